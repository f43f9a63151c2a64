"""Registration data (ARCHITECTURE §4): the tenant's registration policy and its automatic-approval
rules, one ``ClientRegistration`` per client that came in by DCR or CIMD (its metadata, how it was
decided, its RFC 7592 registration access token digest, the requester's justification and the admin's
decision), initial access tokens and trusted software-statement publishers.

The client itself stays an ``oauth.Application`` (status pending/approved/rejected/suspended lives there,
so the validator's one ``is_usable`` check keeps pending clients away from tokens). Imported by
``OAuthConfig.import_models`` (oauth/apps.py) so Django registers these models in the ``oauth`` app.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from kit import crypto
from kit.tenant_owned import TenantOwned


class RegistrationMode(models.TextChoices):
    OPEN = "open", "Open: registered clients are approved at once"
    APPROVAL = "approval", "Approval: registered clients wait for an administrator"
    CLOSED = "closed", "Closed: refused (DCR: unless an initial access token is presented)"


class RegistrationSource(models.TextChoices):
    DCR = "dcr", "Dynamic Client Registration (RFC 7591)"
    CIMD = "cimd", "Client ID Metadata Document"


class RegistrationPolicy(TenantOwned):
    """How a tenant takes clients it has not pre-registered. One row per tenant, created on first use."""

    dcr_mode = models.CharField(max_length=10, choices=RegistrationMode.choices, default=RegistrationMode.APPROVAL)
    cimd_mode = models.CharField(max_length=10, choices=RegistrationMode.choices, default=RegistrationMode.APPROVAL)
    pending_cap = models.PositiveIntegerField(
        default=200, validators=[MinValueValidator(1), MaxValueValidator(100_000)],
        help_text="Registrations waiting for approval at most; further ones are refused until the queue shrinks.")
    unused_expiry_days = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="A registered client that never obtained a token is deleted after this many days.")
    address_rate_per_minute = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(10_000)],
        help_text="Registrations per minute from one source address.")
    tenant_rate_per_minute = models.PositiveIntegerField(
        default=120, validators=[MinValueValidator(1), MaxValueValidator(100_000)],
        help_text="Registrations per minute for the whole tenant.")
    registration_token_days = models.PositiveIntegerField(
        default=90, validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="Lifetime of RFC 7592 registration access tokens.")
    notify_emails = models.TextField(blank=True, help_text="Space- or comma-separated addresses told of new "
                                                           "registrations waiting for approval.")
    webhook_url = models.URLField(max_length=2000, blank=True)
    # HMAC key of the webhook, encrypted with kit.crypto (aad b"registration-webhook:<tenant id>").
    webhook_secret = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="registrationpolicy_tenant")]

    def __str__(self):
        return f"registration policy of {self.tenant_id} (dcr {self.dcr_mode}, cimd {self.cimd_mode})"

    def mode_for(self, source: str) -> str:
        return self.cimd_mode if source == RegistrationSource.CIMD else self.dcr_mode

    @property
    def notify_email_list(self) -> list[str]:
        return [e for e in self.notify_emails.replace(",", " ").split() if "@" in e]


class RuleKind(models.TextChoices):
    REDIRECT_HOST = "redirect_host", "Every redirect URI's host matches"
    CIMD_URL = "cimd_url", "CIMD client_id URL matches"
    PUBLISHER = "publisher", "Software statement signed by a trusted publisher"
    INITIAL_ACCESS_TOKEN = "initial_access_token", "Registered with an initial access token"


class ApprovalRule(TenantOwned):
    """An automatic-approval rule. Rules are evaluated by ``position``; the first that matches approves
    the registration and is recorded as the deciding rule."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    position = models.PositiveIntegerField(default=100)
    kind = models.CharField(max_length=24, choices=RuleKind.choices)
    pattern = models.CharField(
        max_length=500, blank=True,
        help_text="redirect_host: hosts, space-separated, '*.example.com' for subdomains, 'loopback' for "
                  "127.0.0.1/[::1]/localhost. cimd_url: URL prefixes or host patterns. publisher: publisher "
                  "names or '*'. initial_access_token: ignored.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "created_at"]

    def __str__(self):
        return f"{self.kind} {self.pattern}".strip()

    @property
    def label(self) -> str:
        return f"rule #{self.position} {self.kind}" + (f" '{self.pattern}'" if self.pattern else "")


class ClientRegistration(TenantOwned):
    """How one client came in and what was decided. The client's state is ``application.status``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    application = models.OneToOneField(settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE,
                                       related_name="registration")
    source = models.CharField(max_length=4, choices=RegistrationSource.choices)
    metadata = models.JSONField(default=dict, help_text="The client metadata as accepted (RFC 7591 names).")
    software_id = models.CharField(max_length=200, blank=True)
    publisher = models.ForeignKey("oauth.TrustedPublisher", null=True, blank=True, on_delete=models.SET_NULL,
                                  help_text="Whose software statement vouched for the metadata.")
    # sha256 of (software id or name, sorted redirect URIs, requester): identical registrations pile up here.
    fingerprint = models.CharField(max_length=64, db_index=True)
    duplicate_count = models.PositiveIntegerField(default=0)
    requester_ip = models.GenericIPAddressField(null=True, blank=True)
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    decision_rule = models.CharField(max_length=300, help_text="The policy or rule that decided on arrival.")
    # RFC 7592: keyed digest (kit.crypto.secret_digest) of the registration access token.
    registration_token_digest = models.CharField(max_length=128, blank=True, db_index=True)
    registration_token_expires_at = models.DateTimeField(null=True, blank=True)
    initial_access_token = models.ForeignKey("oauth.InitialAccessToken", null=True, blank=True,
                                             on_delete=models.SET_NULL, related_name="registrations")
    # CIMD: the client_id URL (the Application's own client_id is a platform id, unique across tenants).
    cimd_url = models.CharField(max_length=2000, blank=True)
    cimd_expires_at = models.DateTimeField(null=True, blank=True)
    cimd_etag = models.CharField(max_length=200, blank=True)
    cimd_document_sha256 = models.CharField(max_length=64, blank=True)
    cimd_fetched_at = models.DateTimeField(null=True, blank=True)
    justification = models.TextField(blank=True, help_text="Why the requester wants this client approved.")
    justified_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    justified_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=300, blank=True, help_text="Who approved, rejected or suspended.")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "cimd_url"], condition=~models.Q(cimd_url=""),
                                               name="clientregistration_tenant_cimd_url")]
        indexes = [models.Index(fields=["tenant", "source", "created_at"], name="clientreg_tenant_source_idx")]

    def __str__(self):
        return f"{self.source} registration of {self.application_id}"

    @property
    def public_client_id(self) -> str:
        """What the client calls itself: its CIMD URL, else the platform client id."""
        return self.cimd_url or self.application.client_id


class InitialAccessToken(TenantOwned):
    """An admin-issued bearer token that lets software register by DCR (RFC 7591 §3). Digest only."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    label = models.CharField(max_length=200)
    token_digest = models.CharField(max_length=128, unique=True)
    expires_at = models.DateTimeField()
    max_uses = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(10_000)])
    uses = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.label


class TrustedPublisher(TenantOwned):
    """A software publisher whose signed software statements (RFC 7591 §2.3) the tenant trusts."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    issuer = models.CharField(max_length=500, help_text="The `iss` of its software statements.")
    jwks = models.JSONField(help_text="Its public keys, a JWK Set.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "issuer"], name="trustedpublisher_tenant_issuer")]

    def __str__(self):
        return self.name


__all__ = ["RegistrationPolicy", "ApprovalRule", "ClientRegistration", "InitialAccessToken", "TrustedPublisher"]


crypto.register("oauth.RegistrationPolicy", "webhook_secret",
                aad=lambda row: f"registration-webhook:{row.tenant_id}".encode())
