from django.contrib import admin

from .models import AuditCheckpoint, AuditEvent, AuditSigningKey, AuditSink, AuditTenantSettings


class ReadOnlyAdmin(admin.ModelAdmin):
    """For every app's operator admin: rows change only through services, which validate, encrypt and
    audit; the admin looks."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "tenant", "action", "severity", "actor_label", "target_type", "target_label")
    list_filter = ("severity", "action")
    search_fields = ("action", "actor_label", "target_label", "target_id", "request_id", "client_id")
    date_hierarchy = "occurred_at"


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("chain", "seq", "created_at", "kid")
    search_fields = ("chain",)


@admin.register(AuditSigningKey)
class AuditSigningKeyAdmin(ReadOnlyAdmin):
    list_display = ("kid", "active", "created_at")
    exclude = ("sealed_private_key",)


@admin.register(AuditSink)
class AuditSinkAdmin(ReadOnlyAdmin):
    """Sinks are managed by tenant admins in the console (their changes are audited); read-only here."""

    list_display = ("name", "tenant", "url", "state", "cursor_seq", "attempts", "last_delivered_at")
    list_filter = ("state",)
    exclude = ("sealed_secret",)


@admin.register(AuditTenantSettings)
class AuditTenantSettingsAdmin(ReadOnlyAdmin):
    list_display = ("tenant", "retention_days", "ip_truncation", "updated_at")
