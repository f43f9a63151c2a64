"""Reads of a tenant's OAuth clients."""

from __future__ import annotations

from django.db.models import Q

from ..models import Application


def client_by_id(tenant, client_id: str) -> Application | None:
    if not isinstance(client_id, str) or not client_id or "\x00" in client_id or len(client_id) > 255:
        return None
    by = {"cimd_url": client_id} if "://" in client_id else {"client_id": client_id}  # a CIMD client is its URL
    return Application.objects.for_tenant(tenant).filter(**by).select_related("tenant").first()


def clients_of(tenant, *, search: str = "", status: str = ""):
    qs = Application.objects.for_tenant(tenant).prefetch_related("allowed_resources").order_by("name")
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(client_id__icontains=search))
    if status:
        qs = qs.filter(status=status)
    return qs
