"""Append-only, hash-chained audit events.

Each tenant has its own chain (platform-level events form the chain "platform"). A row stores the hash
of its predecessor and its own hash over a canonical JSON form of every field, so an update, a deletion,
a forged row or a reordering breaks the chain at a row that `verify_audit` names. `AuditChainHead` is
the lock that serialises writers of one chain and remembers its tail, so removing the newest rows is
detected as well.
"""

from django.db import models

PLATFORM_CHAIN = "platform"


class Severity(models.TextChoices):
    INFO = "info", "Info"
    NOTICE = "notice", "Notice"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):  # noqa: D401 - the ORM path refuses; the database trigger refuses raw SQL
        raise TypeError("audit events are append-only")

    def delete(self):
        raise TypeError("audit events are append-only")


class AuditEvent(models.Model):
    chain = models.CharField(max_length=40, editable=False)
    seq = models.PositiveBigIntegerField(editable=False)
    tenant = models.ForeignKey(
        "tenants.Tenant", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
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
    ip = models.GenericIPAddressField(null=True, blank=True, editable=False)
    user_agent = models.CharField(max_length=512, blank=True, editable=False)
    request_id = models.CharField(max_length=128, blank=True, editable=False)
    data = models.JSONField(default=dict, blank=True, editable=False)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["chain", "seq"]
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="audit_event_chain_seq")]
        indexes = [
            models.Index(fields=["tenant", "occurred_at"], name="audit_tenant_time"),
            models.Index(fields=["tenant", "action", "occurred_at"], name="audit_tenant_action_time"),
            models.Index(fields=["tenant", "target_type", "target_id"], name="audit_tenant_target"),
        ]

    def __str__(self):
        return f"{self.chain}#{self.seq} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("audit events are append-only")


class AuditChainHead(models.Model):
    chain = models.CharField(max_length=40, primary_key=True)
    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)

    def __str__(self):
        return f"{self.chain} @ {self.last_seq}"
