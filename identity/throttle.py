"""Sign-in throttling: attempts per source address, and a lockout of an account after repeated failed
passwords (kit/ratelimit.py counters). Both fail open: when Redis is down people can still sign in,
and the password hasher's cost still bounds guessing (SECURITY.md)."""

from __future__ import annotations

from django.conf import settings

from kit import ratelimit


def _account_key(email: str) -> str:
    return f"signin:rl:fail:{(email or '').strip().lower()[:254]}"


def address_wait(address: str) -> int | None:
    """Counts one sign-in attempt from ``address``; the seconds to wait when over the limit, else None."""
    return ratelimit.over(f"signin:rl:addr:{address}", limit=settings.SIGNIN_RATE_PER_ADDRESS, window=60)


def account_wait(email: str) -> int | None:
    """Seconds until a locked account may try again, or None when it is not locked."""
    window = settings.SIGNIN_LOCKOUT_SECONDS
    failures = ratelimit.hit(_account_key(email), window=window, fail_open=True, amount=0)
    return ratelimit.retry_after(window) if failures >= settings.SIGNIN_LOCKOUT_FAILURES else None


def failure_counted(email: str) -> bool:
    """Counts a failed password for ``email``; True exactly when this failure locks the account."""
    failures = ratelimit.hit(_account_key(email), window=settings.SIGNIN_LOCKOUT_SECONDS, fail_open=True)
    return failures == settings.SIGNIN_LOCKOUT_FAILURES
