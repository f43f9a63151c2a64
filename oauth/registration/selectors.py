"""Reads of registration: the approval queue with its filters, and a registration's decision history."""

from __future__ import annotations

from django.db.models import Q

from .models import ClientRegistration

QUEUE_STATUSES = ("pending", "approved", "rejected", "suspended")


def registrations_of(tenant, *, status: str = "", source: str = "", search: str = ""):
    qs = ClientRegistration.objects.for_tenant(tenant).select_related("application", "publisher", "justified_by")
    if status in QUEUE_STATUSES:
        qs = qs.filter(application__status=status)
    if source in ("dcr", "cimd"):
        qs = qs.filter(source=source)
    if search:
        qs = qs.filter(Q(application__name__icontains=search) | Q(cimd_url__icontains=search) |
                       Q(application__client_id=search) | Q(software_id=search))
    return qs.order_by("-created_at")


def registration_of(tenant, pk) -> ClientRegistration | None:
    return registrations_of(tenant).filter(pk=pk).first()


def decision_history(registration, limit: int = 50):
    """The audit events of the client: received, justified, approved, rejected, suspended, ..."""
    from audit.models import AuditEvent

    return (AuditEvent.objects.filter(tenant=registration.tenant, target_type="oauth.application",
                                      target_id=str(registration.application_id))
            .order_by("-occurred_at")[:limit])
