"""Reads of the registry."""

from __future__ import annotations

from django.db.models import Count, Q

from .models import HostingMode, MCPResource, ResourceStatus


def resources_of(tenant, *, search: str = "", status: str = ""):
    qs = (MCPResource.objects.for_tenant(tenant).select_related("tenant")
          .annotate(scope_count=Count("scopes", distinct=True), tool_count=Count("tools", distinct=True)))
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(display_name__icontains=search) | Q(uri__icontains=search))
    if status in ResourceStatus.values:
        qs = qs.filter(status=status)
    return qs.order_by("name")


def resource_of(tenant, pk) -> MCPResource | None:
    """The tenant's resource with this id, or None (another tenant's id is simply not found)."""
    return MCPResource.objects.for_tenant(tenant).select_related("tenant").filter(pk=pk).first()


def active_gateway_resource(tenant, name: str) -> MCPResource | None:
    return (MCPResource.objects.for_tenant(tenant).select_related("tenant")
            .filter(name=name, hosting_mode=HostingMode.GATEWAY, status=ResourceStatus.ACTIVE).first())


def active_resource(tenant, pk) -> MCPResource | None:
    return (MCPResource.objects.for_tenant(tenant).select_related("tenant")
            .filter(pk=pk, status=ResourceStatus.ACTIVE).first())


def scopes_of(resource: MCPResource):
    return resource.scopes.annotate(tool_count=Count("tools")).order_by("name")


def tools_of(resource: MCPResource):
    return resource.tools.prefetch_related("required_scopes").order_by("name")
