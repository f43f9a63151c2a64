"""Per-tenant signing keys: generation, the published JWK Set, and signing with the active key.

Private keys are stored encrypted under the platform KEK (bound to their kid). Decrypting per token
request would cost an AES-GCM open and a PEM parse each time, so decrypted keys are cached per process
by kid: a kid names immutable key material, so that cache never goes stale. Which kid is *active* for a
tenant does change; that answer lives in the shared cache and is dropped whenever a key changes state.
"""

from __future__ import annotations

import threading

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.cache import cache
from django.db import transaction
from jwcrypto import jwk

from kit import crypto
from kit.tenant_cache import forget_tenant, near

from ..models import KeyAlgorithm, KeyState, SigningKey

PUBLISHED_STATES = (KeyState.NEXT, KeyState.ACTIVE, KeyState.RETIRED)
ACTIVE_KID_TTL = 300
JWKS_MAX_AGE = 300  # a next key is published well before it signs, so caches see it in time
_private_keys: dict[str, object] = {}
_lock = threading.Lock()


class NoActiveKey(Exception):
    pass


def _aad(kid: str) -> bytes:
    return f"signing-key:{kid}".encode()


def new_private_key(alg: str):
    """Fresh key material for ``alg`` (a cryptography private key object)."""
    if alg == KeyAlgorithm.ES256:
        return ec.generate_private_key(ec.SECP256R1())
    if alg == KeyAlgorithm.RS256:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unsupported signing algorithm '{alg}'; use RS256 or ES256")


def generate(alg: str) -> tuple[str, str, dict]:
    """(kid, encrypted private PEM, public JWK) for a new key. kid is the RFC 7638 thumbprint."""
    private = new_private_key(alg)
    key = jwk.JWK.from_pyca(private)  # from the key object itself: no PEM written only to be parsed again
    public = key.export_public(as_dict=True)
    kid = key.thumbprint()  # RFC 7638 hashes the public members only, so the private JWK's equals the public's
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public.update(kid=kid, alg=alg, use="sig")
    return kid, crypto.encrypt(pem, aad=_aad(kid)), public


def _active_cache_key(tenant_id) -> str:
    return f"oauth:active-key:{tenant_id}"


def forget_active_key(tenant_id) -> None:
    """Called by the services that change a key's state: now (this process, this transaction) and again
    after commit, in case another request cached the old answer meanwhile."""
    cache.delete(_active_cache_key(tenant_id))
    transaction.on_commit(lambda: cache.delete(_active_cache_key(tenant_id)))
    forget_tenant(tenant_id)  # and every process's near copy (kit/tenant_cache.py)


def active_key(tenant) -> tuple[str, str, object]:
    """(kid, alg, private key object) of the tenant's active key: no query, no decryption and no Redis
    read of its own once warm (near-cached under the tenant's generation, oauth/protocol/cache.py)."""
    return near(tenant.pk, "active-key", None, lambda: _shared_active_key(tenant))


def _shared_active_key(tenant) -> tuple[str, str, object]:
    cached = cache.get(_active_cache_key(tenant.pk))
    if cached is not None and cached[0] in _private_keys:
        return cached[0], cached[1], _private_keys[cached[0]]
    row = SigningKey.objects.for_tenant(tenant).filter(state=KeyState.ACTIVE).only(
        "kid", "alg", "private_key").first()
    if row is None:
        raise NoActiveKey(f"tenant '{tenant.slug}' has no active signing key; rotate keys in the console")
    _remember(row)
    cache.set(_active_cache_key(tenant.pk), (row.kid, row.alg), ACTIVE_KID_TTL)
    return row.kid, row.alg, _private_keys[row.kid]


def _remember(row: SigningKey) -> None:
    if row.kid in _private_keys:
        return
    pem = crypto.decrypt(row.private_key, aad=_aad(row.kid))
    # The AES-GCM tag bound to this kid proves the PEM is the one generate() wrote, so the RSA consistency
    # check (~100 ms of CPU per key and process) has nothing left to find.
    key = serialization.load_pem_private_key(pem, password=None, unsafe_skip_rsa_key_validation=True)
    with _lock:
        _private_keys[row.kid] = key


def sign(tenant, claims: dict, *, typ: str) -> str:
    return sign_with_kid(tenant, claims, typ=typ)[0]


def sign_with_kid(tenant, claims: dict, *, typ: str) -> tuple[str, str]:
    """(JWT, kid of the key that signed it): callers that record the kid need not parse the token again."""
    kid, alg, key = active_key(tenant)
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid, "typ": typ}), kid


def published_keys(tenant):
    return SigningKey.objects.for_tenant(tenant).filter(state__in=PUBLISHED_STATES).order_by("created_at")


def jwks(tenant) -> dict:
    return {"keys": [key.public_jwk for key in published_keys(tenant)]}


def verify(tenant, token: str, *, audience=None, typ: str | None = None, leeway: int = 30) -> dict:
    """Verifies a JWT this tenant signed (its published keys only). Raises jwt.InvalidTokenError."""
    header = jwt.get_unverified_header(token)
    if typ is not None and header.get("typ") != typ:
        raise jwt.InvalidTokenError(f"typ must be {typ}")
    row = published_keys(tenant).filter(kid=header.get("kid") or "").first()
    if row is None:
        raise jwt.InvalidTokenError("unknown key id")
    public = jwt.PyJWK(row.public_jwk)
    return jwt.decode(token, public, algorithms=[row.alg], audience=audience, issuer=tenant.issuer,
                      leeway=leeway, options={"verify_aud": audience is not None})
