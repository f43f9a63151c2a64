"""How a person signed in, kept in their session: when (``auth_time``), by which methods (``amr``, RFC 8176)
and when they last proved a second factor.

identity writes it at sign-in and at every step-up; oauth reads it for the ID token's ``auth_time``,
``amr`` and ``acr`` and to honour ``max_age`` and ``acr_values``; every app's sensitive console actions read
it through ``kit.stepup``. It lives in kit so that none of them imports identity.

The ``acr`` values (advertised as ``acr_values_supported``):
- ``urn:mcp-platform:acr:sfa``: one factor (a password, or a provider's sign-in);
- ``urn:mcp-platform:acr:mfa``: a second factor too (TOTP, a recovery code or a passkey), or a passkey
  with user verification on its own. The OpenID PAPE multi-factor URI is accepted in ``acr_values`` as
  the same request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

AUTH_TIME_KEY = "authn_time"
AMR_KEY = "authn_amr"
SECOND_FACTOR_AT_KEY = "authn_second_factor_at"

ACR_SINGLE_FACTOR = "urn:mcp-platform:acr:sfa"
ACR_MULTI_FACTOR = "urn:mcp-platform:acr:mfa"
PAPE_MULTI_FACTOR = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
ACR_VALUES_SUPPORTED = [ACR_SINGLE_FACTOR, ACR_MULTI_FACTOR, PAPE_MULTI_FACTOR]
# acr_values entries that ask for a second factor
MULTI_FACTOR_ACRS = frozenset({ACR_MULTI_FACTOR, PAPE_MULTI_FACTOR})

# RFC 8176 method names of the second factors the platform knows
SECOND_FACTOR_METHODS = frozenset({"otp", "hwk"})


@dataclass(frozen=True)
class SignInContext:
    auth_time: int | None = None
    amr: list[str] = field(default_factory=list)
    second_factor_at: int | None = None

    @property
    def multi_factor(self) -> bool:
        return "mfa" in self.amr

    @property
    def acr(self) -> str:
        return ACR_MULTI_FACTOR if self.multi_factor else ACR_SINGLE_FACTOR

    def second_factor_within(self, seconds: int) -> bool:
        return self.second_factor_at is not None and time.time() - self.second_factor_at <= seconds


def _with_mfa(methods: list[str]) -> list[str]:
    """RFC 8176 "mfa" when a second factor is among the methods (a passkey with user verification is two)."""
    unique = list(dict.fromkeys(m for m in methods if m != "mfa"))
    if any(m in SECOND_FACTOR_METHODS for m in unique) and (len(unique) > 1):
        unique.append("mfa")
    return unique


def record_sign_in(session, methods: list[str]) -> None:
    """A fresh sign-in (after ``login()``): its time and methods replace what the session held."""
    now = int(time.time())
    session[AUTH_TIME_KEY] = now
    session[AMR_KEY] = _with_mfa(methods)
    if any(m in SECOND_FACTOR_METHODS for m in methods):
        session[SECOND_FACTOR_AT_KEY] = now
    else:
        session.pop(SECOND_FACTOR_AT_KEY, None)


def record_second_factor(session, methods: list[str]) -> None:
    """A second factor proved later (step-up, enrolment): added to the session's methods, time kept."""
    session[AMR_KEY] = _with_mfa(list(session.get(AMR_KEY) or ["pwd"]) + methods)
    session[SECOND_FACTOR_AT_KEY] = int(time.time())


def context(session) -> SignInContext:
    if session is None:
        return SignInContext()
    auth_time = session.get(AUTH_TIME_KEY)
    return SignInContext(auth_time=int(auth_time) if auth_time else None, amr=list(session.get(AMR_KEY) or []),
                         second_factor_at=session.get(SECOND_FACTOR_AT_KEY))


def wants_multi_factor(acr_values: str | None) -> bool:
    """Whether an ``acr_values`` request parameter asks for a second factor (OIDC Core §3.1.2.1)."""
    return bool(set((acr_values or "").split()) & MULTI_FACTOR_ACRS)
