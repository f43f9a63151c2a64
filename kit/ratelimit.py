"""Fixed-window counters in Redis, shared by every rate limit of the platform (registration, sign-in,
token, introspection), so all of them survive web replicas and restarts alike.

Each caller decides what happens when Redis cannot be reached (``fail_open``): the token and introspection
endpoints and sign-in keep serving (an outage of the limiter must not become an outage of the platform;
the counted work is bounded by client authentication or password hashing anyway), while registration,
which creates rows for anonymous callers, fails closed. Without REDIS_URL (the embedded single-process
default) the counters live in the local cache.
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)


class Unavailable(Exception):
    """Redis is configured but did not answer; raised only to callers that fail closed."""


@lru_cache(maxsize=4)
def _redis(url: str):
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)


def _key(name: str, window: int) -> str:
    return f"{name}:w{window}:{int(time.time() // window)}"


def retry_after(window: int) -> int:
    """Seconds until the current window ends (what a 429's Retry-After says)."""
    return max(1, int(window - time.time() % window))


def hit(name: str, *, window: int, fail_open: bool, amount: int = 1) -> int:
    """Adds ``amount`` to the counter ``name`` of the current window and returns its value (``amount`` 0
    reads it). When Redis is down: 0 if ``fail_open``, else Unavailable."""
    key = _key(name, window)
    if settings.REDIS_URL:
        try:
            pipe = _redis(settings.REDIS_URL).pipeline(transaction=False)  # no MULTI/EXEC: order is enough
            queue_hit(pipe, name, window=window, amount=amount)
            return int(pipe.execute()[0])
        except Exception as exc:  # redis.RedisError, OSError
            log.warning("rate limiter unavailable (%s): %s", "serving unmetered" if fail_open else "refusing", exc)
            if fail_open:
                return 0
            raise Unavailable(str(exc)) from exc
    cache.add(key, 0, window + 5)
    return cache.incr(key, amount) if amount else cache.get(key, 0)


def queue_hit(pipe, name: str, *, window: int, amount: int = 1) -> None:
    """Queues ``hit``'s commands on a redis-py pipeline of the same Redis; the counter's new value is the
    first of their results. The lean protocol path (oauth/lean) sends them with the tenant's generation
    read, in one round trip."""
    key = _key(name, window)
    pipe.incrby(key, amount)
    pipe.expire(key, window + 5, nx=True)


def over(name: str, *, limit: int, window: int, fail_open: bool = True) -> int | None:
    """Counts one attempt; None within ``limit`` per ``window`` seconds, else the Retry-After seconds."""
    return retry_after(window) if hit(name, window=window, fail_open=fail_open) > limit else None
