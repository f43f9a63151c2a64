"""Registration rate limits per tenant and per source address (fixed one-minute windows in Redis).

Registration fails closed: when Redis is configured but cannot be reached the endpoint answers 503
rather than letting a flood through unmetered. Without REDIS_URL (the embedded single-process default)
the counters live in the local cache."""

from __future__ import annotations

from kit import ratelimit

from .metadata import RegistrationError

WINDOW = 60


def _count(keys: list[str]) -> list[int]:
    try:
        return [ratelimit.hit(key, window=WINDOW, fail_open=False) for key in keys]
    except ratelimit.Unavailable as exc:
        raise RegistrationError("temporarily_unavailable", "registration is paused because its rate limiter "
                                "is unavailable; try again in a minute", status=503,
                                headers={"Retry-After": "60"}) from exc


def hit(*, tenant, address: str, policy) -> tuple[str, int, bool] | None:
    """Counts one registration attempt. Returns None within limits, else (which limit, its value, whether
    this attempt is the first refused in the window, so that the audit log gets one event, not a flood).
    The address is counted first and a refused address does not spend the tenant's budget: one noisy
    address cannot lock everyone else out."""
    for name, key, limit in (("address", f"reg:rl:{tenant.pk}:a:{address}", policy.address_rate_per_minute),
                             ("tenant", f"reg:rl:{tenant.pk}:t", policy.tenant_rate_per_minute)):
        (count,) = _count([key])
        if count > limit:
            return name, limit, count == limit + 1
    return None
