"""Secrets at rest, under the platform key-encryption key (KEK).

``PLATFORM_KEK`` is ``v<N>:<urlsafe base64 of 32 bytes>``; ``PLATFORM_KEK_PREVIOUS`` lists older keys in
the same form (comma-separated) so that values written under them can still be read while a re-wrap
job moves them to the current one. Encrypted values carry the version that wrapped them.

- ``encrypt``/``decrypt``: AES-256-GCM with associated data that binds a value to its row (e.g.
  ``b"signing-key:<kid>"``), so a ciphertext copied into another row does not decrypt.
- ``secret_digest``/``secret_matches``: a keyed SHA-256 (HMAC) for high-entropy secrets the platform
  generates (client secrets, registration and initial access tokens). Slow password hashing buys
  nothing for 256-bit random values and costs ~200 ms per token request (bench/README.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionError(Exception):
    pass


def _parse(entry: str) -> tuple[str, bytes]:
    version, _, material = entry.strip().partition(":")
    if not version.startswith("v") or not material:
        raise ImproperlyConfigured("PLATFORM_KEK must look like v1:<urlsafe base64 of 32 bytes>")
    key = base64.urlsafe_b64decode(material + "=" * (-len(material) % 4))
    if len(key) != 32:
        raise ImproperlyConfigured(f"KEK {version} must be 32 bytes, not {len(key)}")
    return version, key


@lru_cache(maxsize=8)
def _keyring(current: str, previous: str) -> tuple[str, dict[str, bytes]]:
    version, key = _parse(current)
    ring = {version: key}
    for entry in filter(None, (e.strip() for e in previous.split(","))):
        v, k = _parse(entry)
        ring.setdefault(v, k)
    return version, ring


def keyring() -> tuple[str, dict[str, bytes]]:
    """(current version, {version: key}) from settings."""
    return _keyring(settings.PLATFORM_KEK, getattr(settings, "PLATFORM_KEK_PREVIOUS", "") or "")


def current_kek_version() -> str:
    return keyring()[0]


def encrypt(plaintext: bytes, *, aad: bytes) -> str:
    version, ring = keyring()
    nonce = os.urandom(12)
    sealed = AESGCM(ring[version]).encrypt(nonce, plaintext, aad)
    return f"{version}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def decrypt(token: str, *, aad: bytes) -> bytes:
    version, _, body = (token or "").partition(":")
    _, ring = keyring()
    key = ring.get(version)
    if key is None:
        raise DecryptionError(f"no KEK {version!r} configured (set PLATFORM_KEK_PREVIOUS while re-wrapping)")
    raw = base64.urlsafe_b64decode(body)
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], aad)
    except Exception as exc:  # InvalidTag: wrong key, wrong row binding, or tampered
        raise DecryptionError("secret could not be decrypted: wrong key or altered value") from exc


def kek_version_of(token: str) -> str:
    return (token or "").partition(":")[0]


def rewrap(token: str, *, aad: bytes) -> str:
    """The same plaintext under the current KEK (a no-op for values already under it)."""
    if kek_version_of(token) == current_kek_version():
        return token
    return encrypt(decrypt(token, aad=aad), aad=aad)


def generate_secret(nbytes: int = 32) -> str:
    """A platform-generated secret: 256 bits by default, URL-safe."""
    return secrets.token_urlsafe(nbytes)


@lru_cache(maxsize=8)
def _digest_key(version: str, key: bytes) -> bytes:
    return hmac.new(key, b"mcp-platform secret digest v1", hashlib.sha256).digest()


def secret_digest(secret: str) -> str:
    version, ring = keyring()
    mac = hmac.new(_digest_key(version, ring[version]), secret.encode(), hashlib.sha256).hexdigest()
    return f"hmac-sha256${version}${mac}"


def secret_matches(secret: str, stored: str) -> bool:
    """Constant-time comparison against a digest made under any configured KEK version."""
    try:
        scheme, version, mac = stored.split("$", 2)
    except (AttributeError, ValueError):
        return False
    _, ring = keyring()
    if scheme != "hmac-sha256" or version not in ring:
        return False
    expected = hmac.new(_digest_key(version, ring[version]), (secret or "").encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, mac)
