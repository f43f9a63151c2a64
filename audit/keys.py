"""The audit app's own secrets: the Ed25519 checkpoint signing key and SIEM sink secrets.

Both are sealed by kit.crypto in the audit domain (AES-256-GCM under a key derived by HKDF from
``PLATFORM_KEK``), registered as encrypted fields in audit.models, so the one re-wrap job moves them to a
new KEK with every other secret.
"""

from __future__ import annotations

import base64
import secrets
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.db import IntegrityError, transaction

from kit import crypto

from .models import AuditSigningKey


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


UnsealError = crypto.DecryptionError


def seal(plaintext: bytes, *, aad: bytes) -> str:
    return crypto.encrypt(plaintext, aad=aad, domain=crypto.AUDIT_DOMAIN)


def unseal(token: str, *, aad: bytes) -> bytes:
    return crypto.decrypt(token, aad=aad, domain=crypto.AUDIT_DOMAIN)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


# --- Checkpoint signing -------------------------------------------------------------------------------

def _aad(kid: str) -> bytes:
    return b"audit-signing-key:" + kid.encode()


def _create_key() -> AuditSigningKey:
    private = Ed25519PrivateKey.generate()
    kid = secrets.token_hex(8)
    raw_private = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                        serialization.NoEncryption())
    raw_public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return AuditSigningKey.objects.create(kid=kid, public_key=_b64(raw_public),
                                          sealed_private_key=seal(raw_private, aad=_aad(kid)))


def active_key() -> AuditSigningKey:
    key = AuditSigningKey.objects.filter(active=True).first()
    if key is not None:
        return key
    try:
        with transaction.atomic():
            return _create_key()
    except IntegrityError:  # another process created it first (one active key, by constraint)
        return AuditSigningKey.objects.get(active=True)


@lru_cache(maxsize=4)
def _private_key(kid: str, sealed: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(unseal(sealed, aad=_aad(kid)))


@lru_cache(maxsize=16)
def _public_key(public: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_unb64(public))


def sign(payload: bytes) -> tuple[str, str]:
    key = active_key()
    return key.kid, _b64(_private_key(key.kid, key.sealed_private_key).sign(payload))


def verify(kid: str, payload: bytes, signature: str) -> bool:
    key = AuditSigningKey.objects.filter(kid=kid).first()
    if key is None:
        return False
    try:
        _public_key(key.public_key).verify(_unb64(signature), payload)
    except (InvalidSignature, ValueError):
        return False
    return True
