"""Second factors of a person (platform-wide, like the account: one person, several tenants) and each
tenant's policy of who must have one."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from kit import crypto
from kit.tenant_owned import TenantOwned


class TotpDevice(models.Model):
    """An authenticator app (RFC 6238, 30 s steps, 6 digits). The secret is encrypted under the platform
    KEK, bound to this row; ``last_step`` refuses a code used once from being used again."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_devices")
    name = models.CharField(max_length=80)
    secret_encrypted = models.TextField()
    last_step = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    kind = "totp"

    def __str__(self):
        return self.name

    @property
    def secret_aad(self) -> bytes:
        return f"totp-device:{self.pk}:secret".encode()


class Passkey(models.Model):
    """A WebAuthn credential (py_webauthn). ``credential_id`` is unique platform-wide, so a passkey
    presented for another account is found and refused."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="passkeys")
    name = models.CharField(max_length=80)
    credential_id = models.BinaryField(unique=True)
    public_key = models.BinaryField()
    sign_count = models.BigIntegerField(default=0)
    transports = models.JSONField(default=list, blank=True)
    aaguid = models.CharField(max_length=36, blank=True)
    backed_up = models.BooleanField(default=False)
    rp_id = models.CharField(max_length=253)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    kind = "passkey"

    def __str__(self):
        return self.name


class RecoveryCode(models.Model):
    """A one-time code for when the other factors are lost: kept as an HMAC digest (kit.crypto), spent on use."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes")
    digest = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self):
        return f"recovery code of {self.user_id} ({'used' if self.used_at else 'unused'})"


class Rule(models.TextChoices):
    OFF = "off", "Optional: people may enrol a second factor"
    ADMINS = "admins", "Required for owners and admins"
    EVERYONE = "everyone", "Required for everyone"


class MfaPolicy(TenantOwned):
    """Who at this tenant must have a second factor. No row: optional."""

    rule = models.CharField(max_length=10, choices=Rule.choices, default=Rule.OFF)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="mfa_policy_one_per_tenant")]
        verbose_name_plural = "MFA policies"


crypto.register("identity_mfa.TotpDevice", "secret_encrypted", aad=lambda row: row.secret_aad)
