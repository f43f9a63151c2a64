"""RFC 9068 JWT access tokens (DOT's ACCESS_TOKEN_GENERATOR hook) and opaque refresh tokens.

The validator has resolved ``request.token_target`` (audience, scopes, lifetime) before oauthlib asks
for a token, so the generator only formats and signs.
"""

from __future__ import annotations

import secrets
import time
import uuid

from kit.tenancy import get_current_tenant

from . import keys
from .selectors import tenant_settings

ACCESS_TOKEN_TYP = "at+jwt"


def access_token_lifetime(request) -> int:
    """Seconds: the resource's own lifetime, else the tenant's default."""
    target = getattr(request, "token_target", None)
    if target is not None and target.lifetime:
        return target.lifetime
    return tenant_settings(get_current_tenant()).access_token_lifetime


def subject_of(request) -> str:
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "pk", None) is not None:
        return str(user.pk)
    return request.client.public_client_id


def access_token_generator(request, refresh_token: bool = False) -> str:
    tenant = get_current_tenant()
    target = request.token_target
    now = int(time.time())
    jti = uuid.uuid4().hex
    claims = {
        "iss": tenant.issuer,
        "sub": subject_of(request),
        "aud": target.audience,
        "client_id": request.client.public_client_id,  # a CIMD client is its URL (RFC 9068 §2.2)
        "scope": target.scope,
        "iat": now,
        "nbf": now,
        "exp": now + int(getattr(request, "expires_in", None) or access_token_lifetime(request)),
        "jti": jti,
    }
    auth_time = getattr(request, "auth_time", None)
    if auth_time:
        claims["auth_time"] = int(auth_time)
    request.access_token_jti = jti
    # The kid is stored on the row (oauth/rotation.py): a key leaves the JWKS only once its last token
    # expired. Taken from the signer, not by parsing the token again (0.3 ms per token, bench/README.md).
    token, request.access_token_kid = keys.sign_with_kid(tenant, claims, typ=ACCESS_TOKEN_TYP)
    return token


def refresh_token_generator(request, refresh_token: bool = False) -> str:
    """Opaque and 256-bit: a refresh token is only ever read by the authorization server."""
    return secrets.token_urlsafe(32)
