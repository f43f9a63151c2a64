"""Secrets at rest under the platform key-encryption key (KEK), and the registry of encrypted fields.

``PLATFORM_KEK`` is ``v<N>:<urlsafe base64 of 32 bytes>``; ``PLATFORM_KEK_PREVIOUS`` lists older keys in
the same form (comma-separated) so that values written under them can still be read while the re-wrap
job moves them to the current one.

Envelope encryption: every value gets a fresh 256-bit data key (DEK) that seals it (AES-256-GCM), and
only the DEK is sealed by the KEK. A value is ``e1:v<N>:<base64(nonce | wrapped DEK)>:<base64(nonce |
sealed value)>``: the prefix names the format and the KEK version that wrapped its DEK. Associated data
binds each value to its row (e.g. ``b"signing-key:<kid>"``) twice, in the DEK's wrapping and in the
value's sealing, so neither a whole ciphertext nor its wrapped DEK copied into another row decrypts.
Re-wrapping under a new KEK unwraps and wraps the DEK only; the sealed value is left as it is, so a KEK
rotation never handles the plaintexts again.

Values written before envelopes (``v<N>:<base64(nonce | sealed)>``, sealed by the KEK itself) still
decrypt; the re-wrap turns them into envelopes.

A ``domain`` separates key uses: the default domain seals with the KEK itself (the historic format of
``tenants.crypto``); a named domain seals with a key derived from the KEK by HKDF-SHA256 with the name as
``info`` (the historic format of the audit app's seals, ``AUDIT_DOMAIN``). Both read and write here.

Every model field holding such a value is registered (``register``) next to its model; ``rewrap_all``
moves every registered field to an envelope under the current KEK, so dropping ``PLATFORM_KEK_PREVIOUS``
afterwards loses nothing (oauth's ``rewrap_keys`` command and job run it).

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


ENVELOPE = "e1"
_WRAP_AD = b"kit.crypto dek v1\0"
_SEAL_AD = b"kit.crypto value v1\0"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def _wrap_aad(version: str, aad: bytes) -> bytes:
    return _WRAP_AD + version.encode() + b"\0" + aad


def _wrap(dek: bytes, *, version: str, aad: bytes, domain: str) -> str:
    nonce = os.urandom(12)
    kek = keyring()[1][version]
    return _b64(nonce + AESGCM(_domain_key(kek, domain)).encrypt(nonce, dek, _wrap_aad(version, aad)))


def _kek(version: str) -> bytes:
    kek = keyring()[1].get(version)
    if kek is None:
        raise DecryptionError(f"no KEK {version!r} configured (set PLATFORM_KEK_PREVIOUS while re-wrapping)")
    return kek


def _open(key: bytes, body: str, aad: bytes) -> bytes:
    try:
        raw = _unb64(body)
        return AESGCM(key).decrypt(raw[:12], raw[12:], aad)
    except Exception as exc:  # InvalidTag: wrong key, wrong row binding, or tampered
        raise DecryptionError("secret could not be decrypted: wrong key or altered value") from exc


def _envelope_parts(token: str) -> tuple[str, str, str] | None:
    """(KEK version, wrapped DEK, sealed value) of an envelope; None for the pre-envelope format."""
    if not token.startswith(ENVELOPE + ":"):
        return None
    parts = token.split(":")
    if len(parts) != 4:
        raise DecryptionError("secret could not be decrypted: malformed envelope")
    return parts[1], parts[2], parts[3]


def _unwrap(version: str, wrapped: str, *, aad: bytes, domain: str) -> bytes:
    return _open(_domain_key(_kek(version), domain), wrapped, _wrap_aad(version, aad))


def encrypt(plaintext: bytes, *, aad: bytes, domain: str = "") -> str:
    version = current_kek_version()
    dek, nonce = AESGCM.generate_key(bit_length=256), os.urandom(12)
    sealed = _b64(nonce + AESGCM(dek).encrypt(nonce, plaintext, _SEAL_AD + aad))
    return f"{ENVELOPE}:{version}:{_wrap(dek, version=version, aad=aad, domain=domain)}:{sealed}"


def decrypt(token: str, *, aad: bytes, domain: str = "") -> bytes:
    token = token or ""
    envelope = _envelope_parts(token)
    if envelope is None:  # the pre-envelope format: sealed by the (domain) KEK itself
        version, _, body = token.partition(":")
        return _open(_domain_key(_kek(version), domain), body, aad)
    version, wrapped, sealed = envelope
    return _open(_unwrap(version, wrapped, aad=aad, domain=domain), sealed, _SEAL_AD + aad)


def kek_version_of(token: str) -> str:
    parts = (token or "").split(":")
    return parts[1] if parts[0] == ENVELOPE and len(parts) > 1 else parts[0]


def current_prefix() -> str:
    """How every value written or re-wrapped under the current KEK starts (what the re-wrap skips)."""
    return f"{ENVELOPE}:{current_kek_version()}:"


def rewrap(token: str, *, aad: bytes, domain: str = "") -> str:
    """The same value with its DEK wrapped by the current KEK (a no-op for values already so). The
    sealed value is kept byte for byte; a pre-envelope value becomes an envelope."""
    if token.startswith(current_prefix()):
        return token
    envelope = _envelope_parts(token)
    if envelope is None:
        return encrypt(decrypt(token, aad=aad, domain=domain), aad=aad, domain=domain)
    version, wrapped, sealed = envelope
    dek = _unwrap(version, wrapped, aad=aad, domain=domain)
    current = current_kek_version()
    return f"{ENVELOPE}:{current}:{_wrap(dek, version=current, aad=aad, domain=domain)}:{sealed}"


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
        """Rows whose value is set and wrapped under an older KEK or written before envelopes (every
        tenant: the base manager)."""
        from django.db.models import Q

        manager = self.model_class()._base_manager
        empty = Q(**{f"{self.field}__isnull": True}) | Q(**{self.field: ""})
        return manager.exclude(empty).exclude(**{f"{self.field}__startswith": current_prefix()})

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
    """Re-wraps every registered field's DEKs under the current KEK (pre-envelope values become
    envelopes), a batch per transaction; resumable (a value already under the current version is not
    selected again). ``on_rewrapped(entry, row,
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
