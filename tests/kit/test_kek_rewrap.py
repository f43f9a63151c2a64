"""KEK rotation loses nothing: every encrypted field is registered, the one re-wrap job moves all of them
to the new KEK, and after the previous KEK is dropped every secret still decrypts. (At 562953a
``rewrap_keys`` re-wrapped signing keys only: SSO, gateway, webhook and sink secrets became unreadable.)"""

from __future__ import annotations

import base64
import os
import re

import pytest
from django.apps import apps

from audit import keys as audit_keys
from audit.models import AuditEvent
from audit.services import Actor, sink_create, sink_secret
from identity.services import client_secret_of, identity_provider_create, private_key_of
from kit import crypto
from mcp_registry import services as registry
from oauth.registration import services as registration
from oauth.registration.models import RegistrationPolicy
from oauth.signing import keys as signing_keys
from oauth.signing import rotation

ACTOR = Actor("test", "", "pytest")


def _kek(fill: bytes) -> str:
    return base64.urlsafe_b64encode(fill * 32).decode()


@pytest.fixture
def secrets_everywhere(make_tenant, settings):
    """One of every kind of secret the platform encrypts, written under the first KEK."""
    settings.PLATFORM_KEK, settings.PLATFORM_KEK_PREVIOUS = "v1:" + _kek(b"\x01"), ""
    tenant = make_tenant("acme")
    rotation.key_rotate_now(tenant=tenant, actor=ACTOR)
    secret_idp = identity_provider_create(tenant=tenant, name="Corp", slug="corp", actor=ACTOR,
                                          address="https://idp.corp.example", client_id="platform",
                                          client_secret="idp-client-secret")
    key_idp = identity_provider_create(tenant=tenant, name="Keys", slug="keys", actor=ACTOR,
                                       address="https://idp.keys.example", client_id="platform",
                                       client_auth_method="private_key_jwt")
    external = registry.resource_create(tenant=tenant, actor=ACTOR, name="files", uri="https://files.acme.example/mcp",
                                        scopes=[{"name": "files:read"}])
    registry.resource_set_management_token(resource=external, actor=ACTOR, token="management-token")
    gateway = registry.resource_create(tenant=tenant, actor=ACTOR, name="notes", hosting_mode="gateway",
                                       upstream_url="https://notes.acme.example/mcp", scopes=[{"name": "n:read"}])
    registry.resource_set_gateway_identity_secret(resource=gateway, actor=ACTOR, secret="g" * 40)
    registration.policy_update(tenant=tenant, actor=ACTOR, webhook_url="https://hooks.acme.example/r",
                               webhook_secret="webhook-secret")
    sink, sink_plain = sink_create(tenant=tenant, name="siem", url="https://siem.acme.example/hook", actor=ACTOR)
    audit_key = audit_keys.active_key()
    import pyotp
    from django.contrib.auth import get_user_model

    from identity.mfa import services as mfa
    from identity.mfa import totp

    totp_secret = totp.new_secret()
    person = get_user_model().objects.create_user(email="person@acme.example", password="x")
    device, _ = mfa.totp_enrol(user=person, secret=totp_secret, code=pyotp.TOTP(totp_secret).now(), name="Phone")
    return {"totp_device": device, "totp_secret": totp_secret,
            "tenant": tenant, "secret_idp": secret_idp, "key_idp": key_idp, "external": external,
            "gateway": gateway, "sink": sink, "sink_secret": sink_plain, "audit_key": audit_key,
            "idp_key": private_key_of(key_idp)}


def test_every_encrypted_looking_field_is_registered():
    pattern = re.compile(r"(encrypted|sealed)|^(private_key|webhook_secret)$")
    registered = {entry.label for entry in crypto.registered()}
    found = {f"{model._meta.label}.{field.name}" for model in apps.get_models() for field in model._meta.fields
             if pattern.search(field.name) and field.get_internal_type() == "TextField"}
    assert found and found <= registered, found - registered
    assert {"oauth.SigningKey.private_key", "identity.IdentityProvider.client_secret_encrypted",
            "identity.IdentityProvider.private_key_encrypted", "mcp_registry.MCPResource.management_token_encrypted",
            "mcp_registry.MCPResource.gateway_identity_secret_encrypted", "oauth.RegistrationPolicy.webhook_secret",
            "audit.AuditSink.sealed_secret", "audit.AuditSigningKey.sealed_private_key"} <= registered


@pytest.mark.django_db
def test_kek_rotation_rewraps_every_secret_and_the_previous_kek_can_go(secrets_everywhere, settings):
    s = secrets_everywhere
    settings.PLATFORM_KEK, settings.PLATFORM_KEK_PREVIOUS = "v2:" + _kek(b"\x02"), settings.PLATFORM_KEK
    pending = {entry.label: entry.pending().count() for entry in crypto.registered()}
    assert all(pending.values()), pending  # one of each kind waits for the new KEK
    assert rotation.rewrap_keys(batch_size=2) == sum(pending.values())
    assert crypto.pending_count() == 0 and rotation.rewrap_keys() == 0  # resumable: nothing left

    settings.PLATFORM_KEK_PREVIOUS = ""  # the old KEK is gone
    signing_keys._private_keys.clear()
    audit_keys._private_key.cache_clear()
    for entry in crypto.registered():
        for row in entry.model_class()._base_manager.exclude(**{entry.field: ""}):
            assert crypto.kek_version_of(getattr(row, entry.field)) == "v2"
            entry.decrypt(row)  # raises if anything was left behind
    tenant = s["tenant"]
    token = signing_keys.sign(tenant, {"iss": tenant.issuer, "sub": "x"}, typ="at+jwt")
    assert signing_keys.verify(tenant, token)["sub"] == "x"
    s["secret_idp"].refresh_from_db(), s["key_idp"].refresh_from_db()
    assert client_secret_of(s["secret_idp"]) == "idp-client-secret"
    assert private_key_of(s["key_idp"]) == s["idp_key"]
    s["external"].refresh_from_db(), s["gateway"].refresh_from_db()
    assert registry.management_token(s["external"]) == "management-token"
    assert registry.gateway_identity_secret(s["gateway"]) == "g" * 40
    policy = RegistrationPolicy.objects.for_tenant(tenant).get()
    assert crypto.decrypt(policy.webhook_secret, aad=f"registration-webhook:{tenant.pk}".encode()) == b"webhook-secret"
    s["sink"].refresh_from_db()
    assert sink_secret(s["sink"]) == s["sink_secret"].encode()
    assert audit_keys.sign(b"checkpoint")[0] == s["audit_key"].kid  # the audit key still signs
    s["totp_device"].refresh_from_db()
    assert crypto.decrypt(s["totp_device"].secret_encrypted, aad=s["totp_device"].secret_aad).decode() == s[
        "totp_secret"]
    assert AuditEvent.objects.filter(action="secret.rewrapped").count() == (
        sum(pending.values()) - pending["oauth.SigningKey.private_key"])


def test_values_written_by_the_old_modules_stay_readable(settings):
    """Backward compatible: a tenants.crypto value (raw KEK, padded base64) and an audit seal (HKDF key,
    unpadded base64) written before the merge decrypt through kit.crypto unchanged."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    kek = b"\x05" * 32
    settings.PLATFORM_KEK, settings.PLATFORM_KEK_PREVIOUS = "v5:" + base64.urlsafe_b64encode(kek).decode(), ""
    nonce = b"\x00" * 12
    old_tenants = "v5:" + base64.urlsafe_b64encode(nonce + AESGCM(kek).encrypt(nonce, b"one", b"a")).decode()
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"mcp-platform audit seal v1").derive(kek)
    sealed = AESGCM(derived).encrypt(nonce, b"two", b"b")
    old_audit = "v5:" + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
    assert crypto.decrypt(old_tenants, aad=b"a") == b"one"
    assert crypto.decrypt(old_audit, aad=b"b", domain=crypto.AUDIT_DOMAIN) == b"two"
    assert audit_keys.unseal(old_audit, aad=b"b") == b"two"


def _envelope(token: str) -> tuple[str, str, str, str]:
    fmt, version, wrapped, sealed = token.split(":")
    return fmt, version, wrapped, sealed


def _flip(b64: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(b64))
    raw[20] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).decode()


def test_each_value_has_its_own_data_key_and_a_rewrap_moves_only_the_wrapped_key(settings):
    settings.PLATFORM_KEK, settings.PLATFORM_KEK_PREVIOUS = "v1:" + _kek(b"\x01"), ""
    first, second = crypto.encrypt(b"same", aad=b"row:1"), crypto.encrypt(b"same", aad=b"row:1")
    fmt, version, wrapped, sealed = _envelope(first)
    assert (fmt, version) == ("e1", "v1") and crypto.kek_version_of(first) == "v1"
    assert len(base64.urlsafe_b64decode(wrapped)) == 12 + 32 + 16  # nonce | a 256-bit DEK | tag
    assert _envelope(second)[2:] != (wrapped, sealed)  # a fresh DEK (and nonces) for every value

    settings.PLATFORM_KEK, settings.PLATFORM_KEK_PREVIOUS = "v2:" + _kek(b"\x02"), settings.PLATFORM_KEK
    moved = crypto.rewrap(first, aad=b"row:1")
    assert _envelope(moved)[:2] == ("e1", "v2") and _envelope(moved)[3] == sealed  # the value is untouched
    assert _envelope(moved)[2] != wrapped
    assert crypto.rewrap(moved, aad=b"row:1") == moved  # already under the current KEK
    settings.PLATFORM_KEK_PREVIOUS = ""
    assert crypto.decrypt(moved, aad=b"row:1") == b"same"
    with pytest.raises(crypto.DecryptionError, match="no KEK 'v1'"):
        crypto.decrypt(first, aad=b"row:1")


def test_a_swapped_ciphertext_or_wrapped_key_and_a_tampered_wrapped_key_are_refused(settings):
    settings.PLATFORM_KEK, settings.PLATFORM_KEK_PREVIOUS = "v1:" + _kek(b"\x01"), ""
    a, b = crypto.encrypt(b"secret of a", aad=b"signing-key:a"), crypto.encrypt(b"secret of b", aad=b"signing-key:b")
    _, _, wrapped_a, sealed_a = _envelope(a)
    _, _, wrapped_b, sealed_b = _envelope(b)
    refused = {
        "a's whole value in b's row": (a, b"signing-key:b"),
        "a's wrapped key with b's value": (f"e1:v1:{wrapped_a}:{sealed_b}", b"signing-key:b"),
        "a's value with b's wrapped key": (f"e1:v1:{wrapped_b}:{sealed_a}", b"signing-key:a"),
        "a tampered wrapped key": (f"e1:v1:{_flip(wrapped_a)}:{sealed_a}", b"signing-key:a"),
        "a tampered value": (f"e1:v1:{wrapped_a}:{_flip(sealed_a)}", b"signing-key:a"),
        "a malformed envelope": (f"e1:v1:{wrapped_a}", b"signing-key:a"),
    }
    for case, (token, aad) in refused.items():
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(token, aad=aad)
            pytest.fail(case)
        with pytest.raises(crypto.DecryptionError):
            crypto.rewrap(token.replace("e1:v1:", "e1:v0:", 1), aad=aad)  # not readable: not re-wrapped either
    assert crypto.decrypt(a, aad=b"signing-key:a") == b"secret of a"


@pytest.mark.django_db
def test_a_swapped_signing_key_row_is_refused(make_tenant, settings):
    settings.PLATFORM_KEK, settings.PLATFORM_KEK_PREVIOUS = "v1:" + _kek(b"\x01"), ""
    from oauth.models import SigningKey

    tenant = make_tenant("swap")
    rotation.key_rotate_now(tenant=tenant, actor=ACTOR)
    first, second = SigningKey.objects.for_tenant(tenant).order_by("created_at")[:2]
    entry = next(e for e in crypto.registered() if e.label == "oauth.SigningKey.private_key")
    first.private_key = second.private_key  # an operator with the database copies one row's key into another
    with pytest.raises(crypto.DecryptionError):
        entry.decrypt(first)


@pytest.mark.django_db
def test_values_of_the_format_before_envelopes_are_upgraded_by_the_rewrap(secrets_everywhere, settings):
    """Values written directly under the KEK (before envelopes) decrypt, and the re-wrap turns them into
    envelopes, even under the current KEK version, so none of the old format is left."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    kek = b"\x01" * 32
    policy = RegistrationPolicy.objects.for_tenant(secrets_everywhere["tenant"]).get()
    aad = f"registration-webhook:{policy.tenant_id}".encode()
    nonce = os.urandom(12)
    old = "v1:" + base64.urlsafe_b64encode(nonce + AESGCM(kek).encrypt(nonce, b"old webhook secret", aad)).decode()
    RegistrationPolicy.objects.filter(pk=policy.pk).update(webhook_secret=old)
    assert crypto.decrypt(old, aad=aad) == b"old webhook secret"
    assert crypto.pending_count() == 1  # the only value not yet an envelope, although under the current KEK
    assert rotation.rewrap_keys() == 1 and crypto.pending_count() == 0
    policy.refresh_from_db()
    assert policy.webhook_secret.startswith("e1:v1:") and crypto.decrypt(policy.webhook_secret, aad=aad) == \
        b"old webhook secret"
