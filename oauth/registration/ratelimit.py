"""Registration rate limits per tenant and per source address (fixed one-minute windows in Redis).

Registration fails closed: when Redis is configured but cannot be reached the endpoint answers 503
rather than letting a flood through unmetered. Without REDIS_URL (the embedded single-process default)
the counters live in the local cache."""

from __future__ import annotations

import logging
import time
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache

from .metadata import RegistrationError

log = logging.getLogger(__name__)
WINDOW = 60


@lru_cache(maxsize=4)
def _redis(url: str):
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)


def _count(keys: list[str]) -> list[int]:
    if settings.REDIS_URL:
        try:
            pipe = _redis(settings.REDIS_URL).pipeline()
            for key in keys:
                pipe.incr(key)
                pipe.expire(key, WINDOW + 5, nx=True)
            return [int(v) for v in pipe.execute()[::2]]
        except Exception as exc:  # redis.RedisError, OSError: fail closed
            log.warning("registration rate limiter unavailable: %s", exc)
            raise RegistrationError("temporarily_unavailable", "registration is paused because its rate limiter "
                                    "is unavailable; try again in a minute", status=503,
                                    headers={"Retry-After": "60"}) from exc
    counts = []
    for key in keys:
        cache.add(key, 0, WINDOW + 5)
        counts.append(cache.incr(key))
    return counts


def hit(*, tenant, address: str, policy) -> tuple[str, int, bool] | None:
    """Counts one registration attempt. Returns None within limits, else (which limit, its value, whether
    this attempt is the first refused in the window, so that the audit log gets one event, not a flood).
    The address is counted first and a refused address does not spend the tenant's budget: one noisy
    address cannot lock everyone else out."""
    window = int(time.time() // WINDOW)
    for name, key, limit in (("address", f"reg:rl:{tenant.pk}:a:{address}:{window}", policy.address_rate_per_minute),
                             ("tenant", f"reg:rl:{tenant.pk}:t:{window}", policy.tenant_rate_per_minute)):
        (count,) = _count([key])
        if count > limit:
            return name, limit, count == limit + 1
    return None
