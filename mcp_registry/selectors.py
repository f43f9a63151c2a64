"""Reads of the registry."""

from __future__ import annotations

from django.db.models import Count, Q

from .models import HostingMode, MCPResource, ResourceScope, ResourceStatus


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


# --- The registry as other apps read it (oauth's targets, clients, jobs and discovery) ----------------

def tenant_resources(tenant):
    """The tenant's resources, plainly (for choices and lists of another app)."""
    return MCPResource.objects.for_tenant(tenant).order_by("name")


def active_resources(tenant):
    return MCPResource.objects.for_tenant(tenant).filter(status=ResourceStatus.ACTIVE)


def resource_by_uri(tenant, uri: str) -> MCPResource | None:
    """The tenant's resource at this canonical URI (any status), or None."""
    return MCPResource.objects.for_tenant(tenant).filter(uri=uri).first()


def resource_by_uri_or_name(tenant, value: str) -> MCPResource | None:
    """The tenant's resource named by its URI, else by its short name (how people and jobs name a resource),
    or None. A name is a slug and never looks like a URI, so the two cannot name different resources."""
    value = str(value or "")
    return resource_by_uri(tenant, value) or MCPResource.objects.for_tenant(tenant).filter(name=value).first()


def resource_at(uri: str) -> MCPResource | None:
    """The resource at this URI in whichever tenant registered it (URIs are unique platform-wide): for the
    platform's own commands, never for a tenant's request."""
    return MCPResource.objects.unscoped().select_related("tenant").filter(uri=uri).first()


def is_active_resource_uri(tenant, uri: str) -> bool:
    return active_resources(tenant).filter(uri=uri).exists()


def active_scope_names(tenant) -> set[str]:
    """Every scope name of the tenant's active resources (the tenant's scopes_supported)."""
    return set(ResourceScope.objects.filter(resource__tenant=tenant, resource__status=ResourceStatus.ACTIVE)
               .values_list("name", flat=True).distinct())
