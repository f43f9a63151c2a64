"""Secrets at rest under the platform key-encryption key (KEK), and the registry of encrypted fields.

``PLATFORM_KEK`` is ``v<N>:<urlsafe base64 of 32 bytes>``; ``PLATFORM_KEK_PREVIOUS`` lists older keys in
the same form (comma-separated) so that values written under them can still be read while the re-wrap
job moves them to the current one. Encrypted values are ``v<N>:<base64(nonce | AES-256-GCM sealed)>``:
they carry the KEK version that wrapped them, and associated data binds each one to its row (e.g.
``b"signing-key:<kid>"``), so a ciphertext copied into another row does not decrypt.

A ``domain`` separates key uses: the default domain seals with the KEK itself (the historic format of
``tenants.crypto``); a named domain seals with a key derived from the KEK by HKDF-SHA256 with the name as
``info`` (the historic format of the audit app's seals, ``AUDIT_DOMAIN``). Both read and write here.

Every model field holding such a value is registered (``register``) next to its model; ``rewrap_all``
moves every registered field to the current KEK, so dropping ``PLATFORM_KEK_PREVIOUS`` afterwards loses
nothing (oauth's ``rewrap_keys`` command and job run it).

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
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

AUDIT_DOMAIN = "mcp-platform audit seal v1"


class DecryptionError(Exception):
    pass


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _parse(entry: str) -> tuple[str, bytes]:
    version, _, material = entry.strip().partition(":")
    if not version.startswith("v") or not material:
        raise ImproperlyConfigured("PLATFORM_KEK must look like v1:<urlsafe base64 of 32 bytes>")
    key = _unb64(material)
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
    """(current version, {version: KEK}) from settings."""
    return _keyring(settings.PLATFORM_KEK, getattr(settings, "PLATFORM_KEK_PREVIOUS", "") or "")


def current_kek_version() -> str:
    return keyring()[0]


@lru_cache(maxsize=32)
def _domain_key(kek: bytes, domain: str) -> bytes:
    if not domain:
        return kek
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=domain.encode()).derive(kek)


def encrypt(plaintext: bytes, *, aad: bytes, domain: str = "") -> str:
    version, ring = keyring()
    nonce = os.urandom(12)
    sealed = AESGCM(_domain_key(ring[version], domain)).encrypt(nonce, plaintext, aad)
    return f"{version}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def decrypt(token: str, *, aad: bytes, domain: str = "") -> bytes:
    version, _, body = (token or "").partition(":")
    kek = keyring()[1].get(version)
    if kek is None:
        raise DecryptionError(f"no KEK {version!r} configured (set PLATFORM_KEK_PREVIOUS while re-wrapping)")
    try:
        raw = _unb64(body)
        return AESGCM(_domain_key(kek, domain)).decrypt(raw[:12], raw[12:], aad)
    except Exception as exc:  # InvalidTag: wrong key, wrong row binding, or tampered
        raise DecryptionError("secret could not be decrypted: wrong key or altered value") from exc


def kek_version_of(token: str) -> str:
    return (token or "").partition(":")[0]


def rewrap(token: str, *, aad: bytes, domain: str = "") -> str:
    """The same plaintext under the current KEK (a no-op for values already under it)."""
    if kek_version_of(token) == current_kek_version():
        return token
    return encrypt(decrypt(token, aad=aad, domain=domain), aad=aad, domain=domain)


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


# --- The registry of encrypted fields and the re-wrap over all of them ---------------------------------

@dataclass(frozen=True)
class EncryptedField:
    model: str  # "app_label.ModelName"
    field: str
    aad: Callable  # row -> bytes, the same binding the writer used
    domain: str = ""

    @property
    def label(self) -> str:
        return f"{self.model}.{self.field}"

    def model_class(self):
        from django.apps import apps

        return apps.get_model(self.model)

    def pending(self):
        """Rows whose value is set and wrapped under an older KEK (every tenant: the base manager)."""
        from django.db.models import Q

        manager = self.model_class()._base_manager
        empty = Q(**{f"{self.field}__isnull": True}) | Q(**{self.field: ""})
        return manager.exclude(empty).exclude(**{f"{self.field}__startswith": f"{current_kek_version()}:"})

    def decrypt(self, row) -> bytes:
        return decrypt(getattr(row, self.field), aad=self.aad(row), domain=self.domain)


_registry: dict[str, EncryptedField] = {}


def register(model: str, field: str, *, aad: Callable, domain: str = "") -> EncryptedField:
    """Declare that ``model.field`` holds values of ``encrypt`` (called next to the model's class)."""
    entry = EncryptedField(model, field, aad, domain)
    _registry[entry.label] = entry
    return entry


def registered() -> list[EncryptedField]:
    return sorted(_registry.values(), key=lambda e: e.label)


def pending_count() -> int:
    return sum(entry.pending().count() for entry in registered())


def rewrap_all(*, batch_size: int = 100, on_rewrapped=None, progress=None, check_cancelled=None) -> int:
    """Re-encrypts every registered field under the current KEK, a batch per transaction; resumable (a
    value already under the current version is not selected again). ``on_rewrapped(entry, row,
    previous_version)`` runs inside the batch's transaction (the caller's audit record). Returns how
    many values were re-wrapped."""
    from django.db import transaction

    done = 0
    for entry in registered():
        while True:
            if check_cancelled is not None:
                check_cancelled()
            with transaction.atomic():
                batch = list(entry.pending().select_for_update(skip_locked=True).order_by("pk")[:batch_size])
                for row in batch:
                    previous = kek_version_of(getattr(row, entry.field))
                    setattr(row, entry.field, rewrap(getattr(row, entry.field), aad=entry.aad(row),
                                                     domain=entry.domain))
                    row.save(update_fields=[entry.field])
                    if on_rewrapped is not None:
                        on_rewrapped(entry, row, previous)
            if not batch:
                break
            done += len(batch)
            if progress is not None:
                progress(done)
    return done
