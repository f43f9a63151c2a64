"""Append-only, hash-chained audit events, their signed checkpoints, and per-tenant audit settings.

Each tenant has its own chain (platform-level events form the chain "platform"). A row stores the hash
of its predecessor and its own hash over a canonical JSON form of every field, so an update, a deletion,
a forged row or a reordering breaks the chain at a row that `verify_audit` names. `AuditChainHead` is
the lock that serialises writers of one chain and remembers its tail, so removing the newest rows is
detected as well. `AuditCheckpoint` rows sign (chain, seq, hash) with the platform audit key: retention
may drop the events before a checkpoint and the rest still verifies from it, and rewriting history
before a checkpoint would need the signing key.

Foreign keys to other apps are by "app.Model" string: audit imports none of our apps.

Every row of a tenant's chain (event, chain head, checkpoint, purge record, failure window) carries
``tenant_id``, so the tables can be sharded by tenant (Citus) like every tenant-owned table. These rows are
not ``TenantOwned``: audit sits below tenants (.importlinter layers), its rows are append-only with their own
manager, and the platform chain's rows have no tenant (``tenant_id`` NULL, ``chain`` "platform"). The
foreign key names "tenants.Tenant" by string, which Django resolves at start-up without an import.
"""

import uuid

from django.db import models
from django.db.models import Q

from kit import crypto

PLATFORM_CHAIN = "platform"


def chain_tenant_id(chain: str) -> str | None:
    """The tenant id a chain belongs to: a tenant's chain is named by its id, the platform's has none."""
    return None if chain == PLATFORM_CHAIN else chain


def _chain_tenant():
    """The tenant of a chain's row (None for the platform chain). PROTECT like the events: a tenant with
    audit history is suspended, never deleted."""
    return models.ForeignKey("tenants.Tenant", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                             editable=False)


class Severity(models.TextChoices):
    INFO = "info", "Info"
    NOTICE = "notice", "Notice"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):  # the ORM path refuses; the database trigger refuses raw SQL
        raise TypeError(f"{self.model.__name__} rows are append-only")

    def delete(self):
        raise TypeError(f"{self.model.__name__} rows are append-only")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError(f"{self.__class__.__name__} rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError(f"{self.__class__.__name__} rows are append-only")


def _tenant_time_index(field: str, name: str, condition=None):
    return models.Index(fields=["tenant", field, "occurred_at"], name=name, condition=condition)


class AuditEvent(AppendOnlyModel):
    chain = models.CharField(max_length=40, editable=False)
    seq = models.PositiveBigIntegerField(editable=False)
    # No index of its own: every index below starts with tenant.
    tenant = models.ForeignKey(
        "tenants.Tenant", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False,
        db_index=False,
    )
    occurred_at = models.DateTimeField(editable=False)
    action = models.CharField(max_length=80, editable=False)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.INFO, editable=False)
    actor_type = models.CharField(max_length=20, editable=False)
    actor_id = models.CharField(max_length=64, blank=True, editable=False)
    actor_label = models.CharField(max_length=255, blank=True, editable=False)
    target_type = models.CharField(max_length=64, blank=True, editable=False)
    target_id = models.CharField(max_length=255, blank=True, editable=False)
    target_label = models.CharField(max_length=255, blank=True, editable=False)
    # Denormalised from actor/data so that "everything about this client / this MCP server" is indexed.
    client_id = models.CharField(max_length=255, blank=True, editable=False)
    resource = models.CharField(max_length=500, blank=True, editable=False)
    ip = models.GenericIPAddressField(null=True, blank=True, editable=False)
    user_agent = models.CharField(max_length=512, blank=True, editable=False)
    request_id = models.CharField(max_length=128, blank=True, editable=False)
    data = models.JSONField(default=dict, blank=True, editable=False)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    class Meta:
        ordering = ["chain", "seq"]
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="audit_event_chain_seq")]
        # Every search is "one tenant, newest first, maybe one more filter": one (tenant, filter, time)
        # index per filter. Sparse columns get partial indexes so they cost nothing on other rows.
        indexes = [
            models.Index(fields=["tenant", "occurred_at"], name="audit_tenant_time"),
            _tenant_time_index("action", "audit_tenant_action_time"),
            models.Index(fields=["tenant", "target_type", "target_id", "occurred_at"], name="audit_tenant_target"),
            _tenant_time_index("actor_id", "audit_tenant_actor_time"),
            _tenant_time_index("actor_label", "audit_tenant_actor_label_time"),
            _tenant_time_index("severity", "audit_tenant_severity_time", ~Q(severity="info")),
            _tenant_time_index("client_id", "audit_tenant_client_time", ~Q(client_id="")),
            _tenant_time_index("resource", "audit_tenant_resource_time", ~Q(resource="")),
            _tenant_time_index("ip", "audit_tenant_ip_time", Q(ip__isnull=False)),
        ]

    def __str__(self):
        return f"{self.chain}#{self.seq} {self.action}"


class AuditChainHead(models.Model):
    chain = models.CharField(max_length=40, primary_key=True)
    tenant = _chain_tenant()
    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)
    # Copied from AuditTenantSettings: record() reads the head row anyway, so the policy costs no query.
    ip_truncation = models.CharField(max_length=10, default="none")

    def __str__(self):
        return f"{self.chain} @ {self.last_seq}"


class AuditSigningKey(models.Model):
    """The platform audit signing key (Ed25519). The private half is sealed under PLATFORM_KEK; public
    halves stay forever so that old checkpoints keep verifying after the key is replaced."""

    kid = models.CharField(max_length=32, primary_key=True)
    public_key = models.CharField(max_length=64)  # urlsafe base64 of the 32-byte raw public key
    sealed_private_key = models.TextField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["active"], condition=Q(active=True),
                                               name="audit_one_active_signing_key")]

    def __str__(self):
        return f"audit key {self.kid}{' (active)' if self.active else ''}"


class AuditCheckpoint(AppendOnlyModel):
    """A signed statement "chain C had hash H at position S", so the chain verifies from here on."""

    chain = models.CharField(max_length=40, editable=False)
    tenant = _chain_tenant()  # not signed: it is the chain's name, which the signature covers
    seq = models.PositiveBigIntegerField(editable=False)
    event_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(editable=False)
    kid = models.CharField(max_length=32, editable=False)
    signature = models.CharField(max_length=128, editable=False)

    class Meta:
        ordering = ["chain", "seq"]
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="audit_checkpoint_chain_seq")]

    def __str__(self):
        return f"checkpoint {self.chain}#{self.seq}"


class AuditPurge(AppendOnlyModel):
    """Signed evidence of one retention purge: rows ``first_seq..last_seq`` (``count`` of them, from the row
    hashed ``first_hash`` to the row hashed ``last_hash``) were dropped on purpose. ``verify_audit`` accepts
    a gap at the start of a chain only where consecutive purge records with valid signatures cover it."""

    chain = models.CharField(max_length=40, editable=False)
    tenant = _chain_tenant()  # not signed: it is the chain's name, which the signature covers
    first_seq = models.PositiveBigIntegerField(editable=False)
    last_seq = models.PositiveBigIntegerField(editable=False)
    count = models.PositiveBigIntegerField(editable=False)
    first_hash = models.CharField(max_length=64, editable=False)
    last_hash = models.CharField(max_length=64, editable=False)
    retention_days = models.PositiveIntegerField(editable=False)
    created_at = models.DateTimeField(editable=False)
    kid = models.CharField(max_length=32, editable=False)
    signature = models.CharField(max_length=128, editable=False)

    class Meta:
        ordering = ["chain", "first_seq"]
        constraints = [models.UniqueConstraint(fields=["chain", "first_seq"], name="audit_purge_chain_first_seq")]

    def __str__(self):
        return f"purge {self.chain}#{self.first_seq}..{self.last_seq}"


class FailureWindow(models.Model):
    """Refused requests of one kind from one source in one minute, in one chain (audit/failures.py): the
    first is an audit event at once, the rest become one summary event when the minute has closed."""

    chain = models.CharField(max_length=40)
    tenant = models.ForeignKey("tenants.Tenant", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                               db_index=False)
    action = models.CharField(max_length=80)
    source = models.CharField(max_length=255)  # an address or a claimed client id; OVERFLOW past the cap
    minute = models.DateTimeField()
    count = models.PositiveIntegerField(default=1)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    summarised = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain", "action", "source", "minute"],
                                               name="audit_failure_window")]
        indexes = [models.Index(fields=["summarised", "minute"], name="audit_failure_due"),
                   models.Index(fields=["chain", "minute"], name="audit_failure_chain_minute")]

    def __str__(self):
        return f"{self.action} from {self.source} at {self.minute:%H:%M} x{self.count}"


class IPTruncation(models.TextChoices):
    NONE = "none", "Keep full addresses"
    NETWORK = "network", "Keep the network only (IPv4 /24, IPv6 /48)"
    DROP = "drop", "Record no addresses"


class AuditTenantSettings(models.Model):
    """Per-tenant audit policy, keyed by the tenant (no row means the platform defaults)."""

    tenant = models.OneToOneField("tenants.Tenant", on_delete=models.CASCADE, primary_key=True, related_name="+")
    retention_days = models.PositiveIntegerField(null=True, blank=True,
                                                 help_text="Drop events older than this; empty keeps them forever.")
    # A shorter retention waits AUDIT_RETENTION_CHANGE_DELAY_DAYS before any purge uses it, so a hijacked
    # owner account cannot erase history at once and the other owners (and the SIEM) see it coming.
    pending_retention_days = models.PositiveIntegerField(null=True, blank=True)
    pending_retention_from = models.DateTimeField(null=True, blank=True)
    ip_truncation = models.CharField(max_length=10, choices=IPTruncation.choices, default=IPTruncation.NONE)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"audit settings of {self.tenant_id}"


class SinkState(models.TextChoices):
    ACTIVE = "active", "Delivering"
    RETRYING = "retrying", "Retrying"
    DEAD_LETTER = "dead_letter", "Stopped after repeated failures"
    PAUSED = "paused", "Paused"


class AuditSink(models.Model):
    """A tenant's SIEM webhook. ``cursor_seq`` is the last chain position the receiver acknowledged:
    delivery resumes after it, so a crash between sending and saving resends (same event ids), never skips."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    sealed_secret = models.TextField()
    state = models.CharField(max_length=12, choices=SinkState.choices, default=SinkState.ACTIVE)
    cursor_seq = models.PositiveBigIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)  # consecutive failures
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="audit_sink_tenant_name")]

    def __str__(self):
        return f"{self.name} -> {self.url}"


crypto.register("audit.AuditSigningKey", "sealed_private_key", aad=lambda row: b"audit-signing-key:" + row.kid.encode(),
                domain=crypto.AUDIT_DOMAIN)
crypto.register("audit.AuditSink", "sealed_secret", aad=lambda row: b"audit-sink:" + str(row.pk).encode(),
                domain=crypto.AUDIT_DOMAIN)
