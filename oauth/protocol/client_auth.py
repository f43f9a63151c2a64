"""Client authentication at the token, revocation and introspection endpoints.

- Secrets: the platform generates them (256 bits) and keeps a keyed SHA-256 digest
  (kit.crypto.secret_digest), compared in constant time. DOT's PBKDF2 is never used: at 1,000,000
  iterations it costs ~200 ms per token request and buys nothing for random secrets.
- private_key_jwt (RFC 7523 §2.2, OIDC Core §9): a JWT signed with a key from the client's registered
  JWK Set (inline ``jwks``, or ``jwks_uri`` fetched through the SSRF-guarded fetcher of client ID
  metadata documents and cached per its HTTP caching headers; an unknown ``kid`` refetches at most once a
  minute); iss = sub = client_id, aud = the issuer or the token endpoint, short-lived, and its ``jti``
  accepted once.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import jwt
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from oauth2_provider.cimd import CIMDError

from kit import crypto

from ..models import ClientAssertion
from . import registration_hooks

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGS = ["RS256", "ES256", "PS256", "EdDSA"]
MAX_ASSERTION_LIFETIME = 600
JWKS_MIN_TTL, JWKS_MAX_TTL, JWKS_REFETCH_INTERVAL = 60, 3600, 60


def _jwks_cache_key(client) -> str:
    # The platform id, not the public one: a CIMD URL names one client per tenant.
    digest = hashlib.sha256(f"{client.client_id}\n{client.jwks_uri}".encode()).hexdigest()[:32]
    return f"oauth:client-jwks:{digest}"


def _fetch_jwks(client) -> list:
    try:
        fetched = registration_hooks.fetch_document(client.jwks_uri)
    except (CIMDError, ValueError):
        return []
    document = fetched.document or {}
    keys = [k for k in document.get("keys", []) if isinstance(k, dict)] if isinstance(
        document.get("keys"), list) else []
    ttl = int((fetched.expires_at - timezone.now()).total_seconds())
    cache.set(_jwks_cache_key(client), keys, min(max(ttl, JWKS_MIN_TTL), JWKS_MAX_TTL))
    return keys


def client_keys(client, kid: str | None = None) -> list[dict]:
    """The client's public keys; for jwks_uri, from cache, refetched when the kid is unknown."""
    if client.jwks and isinstance(client.jwks.get("keys"), list):
        return [k for k in client.jwks["keys"] if isinstance(k, dict)]
    if not client.jwks_uri:
        return []
    keys = cache.get(_jwks_cache_key(client))
    if keys is None:
        return _fetch_jwks(client)
    if kid and all(k.get("kid") != kid for k in keys) and cache.add(
            _jwks_cache_key(client) + ":refetch", 1, JWKS_REFETCH_INTERVAL):
        return _fetch_jwks(client)  # a rotated key: refetch, but at most once a minute per client
    return keys


def secret_matches(client, provided: str) -> bool:
    stored = client.client_secret or ""
    return bool(stored) and crypto.secret_matches(provided or "", stored)


def assertion_client_id(assertion: str) -> str | None:
    """The client an assertion claims to come from (unverified: only used to find its keys)."""
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) and sub == claims.get("iss") else None


def verify_assertion(client, assertion: str, *, audiences: list[str]) -> bool:
    try:
        header = jwt.get_unverified_header(assertion)
        kid = header.get("kid") if isinstance(header.get("kid"), str) else None
        candidates = [k for k in client_keys(client, kid) if not kid or k.get("kid") == kid]
        claims = None
        for candidate in candidates:
            try:
                key = jwt.PyJWK(candidate)
                claims = jwt.decode(assertion, key, algorithms=ASSERTION_ALGS, audience=audiences, leeway=30,
                                    options={"require": ["iss", "sub", "aud", "exp", "jti"]})
                break
            except (jwt.PyJWTError, ValueError, TypeError):
                continue
        if claims is None:
            return False
    except (jwt.PyJWTError, ValueError, TypeError):
        return False
    if claims["iss"] != client.public_client_id or claims["sub"] != client.public_client_id:
        return False
    now = datetime.now(UTC).timestamp()
    if not isinstance(claims["exp"], (int, float)) or claims["exp"] - now > MAX_ASSERTION_LIFETIME:
        return False
    jti = str(claims["jti"])[:200]
    try:
        with transaction.atomic():
            ClientAssertion.objects.create(
                tenant_id=client.tenant_id, application=client, jti=jti,
                expires_at=datetime.fromtimestamp(claims["exp"] + 60, tz=UTC))
    except IntegrityError:
        return False  # replayed assertion
    return True
