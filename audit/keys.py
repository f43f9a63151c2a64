"""The audit app's own secrets: the Ed25519 checkpoint signing key and SIEM sink secrets.

Both are sealed with AES-256-GCM under a key derived (HKDF) from ``PLATFORM_KEK``, read directly from
settings: audit imports none of our apps, so it does not use tenants.crypto, but it follows the same
conventions (``v<N>:<base64>`` keys, ``PLATFORM_KEK_PREVIOUS`` for values sealed under an older KEK, and
associated data that binds a ciphertext to its row).
"""

from __future__ import annotations

import base64
import os
import secrets
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction

from .models import AuditSigningKey

_INFO = b"mcp-platform audit seal v1"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@lru_cache(maxsize=8)
def _ring(current: str, previous: str) -> tuple[str, dict[str, bytes]]:
    ring, first = {}, None
    for entry in [current, *previous.split(",")]:
        version, _, material = entry.strip().partition(":")
        if not version:
            continue
        if not version.startswith("v") or not material:
            raise ImproperlyConfigured("PLATFORM_KEK must look like v1:<urlsafe base64 of 32 bytes>")
        kek = _unb64(material)
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(kek)
        ring.setdefault(version, derived)
        first = first or version
    return first, ring


def _keyring() -> tuple[str, dict[str, bytes]]:
    return _ring(settings.PLATFORM_KEK, getattr(settings, "PLATFORM_KEK_PREVIOUS", "") or "")


class UnsealError(Exception):
    pass


def seal(plaintext: bytes, *, aad: bytes) -> str:
    version, ring = _keyring()
    nonce = os.urandom(12)
    return f"{version}:{_b64(nonce + AESGCM(ring[version]).encrypt(nonce, plaintext, aad))}"


def unseal(token: str, *, aad: bytes) -> bytes:
    version, _, body = (token or "").partition(":")
    key = _keyring()[1].get(version)
    if key is None:
        raise UnsealError(f"no PLATFORM_KEK {version!r} configured (add it to PLATFORM_KEK_PREVIOUS)")
    raw = _unb64(body)
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], aad)
    except Exception as exc:  # InvalidTag: wrong key, another row's value, or altered
        raise UnsealError("sealed value could not be opened: wrong key or altered value") from exc


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
