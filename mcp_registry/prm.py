"""Protected Resource Metadata (RFC 9728) generated from the registry, and the URLs it lives at.

Two documents come from one function:
- the PRM proper, served at the RFC 9728 well-known path (path insertion) for gateway-hosted resources;
- the *mirror* document at a stable platform URL for external resources, which ``mcp_guard`` fetches and
  re-serves at the MCP server's own well-known path. It carries one extra member, ``mcp_tool_scopes``
  (tool name -> scopes a ``tools/call`` needs), which ``mcp_guard`` reads and strips before serving.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from kit import documents
from kit.tenant_cache import near

from .models import MCPResource

WELL_KNOWN = "/.well-known/oauth-protected-resource"
# Authorization-server scopes never belong in a resource's metadata or challenges (SEP-2207).
AS_ONLY_SCOPES = frozenset({"offline_access", "openid"})
TOOL_SCOPES_MEMBER = "mcp_tool_scopes"
CACHE_MAX_AGE = 60  # seconds: a registry change is visible to clients within this long


def gateway_uri(tenant, name: str) -> str:
    """The canonical URI of a resource the platform hosts as a gateway."""
    return f"{settings.PUBLIC_URL}/t/{tenant.slug}/mcp/{name}"


def well_known_url(resource_uri: str) -> str:
    """RFC 9728 §3.1: the well-known segment goes between the host and the resource's path."""
    parts = urlsplit(resource_uri)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, WELL_KNOWN + path, "", ""))


def mirror_url(resource: MCPResource) -> str:
    """The stable platform URL of an external resource's PRM, which mcp_guard mirrors."""
    return f"{settings.PUBLIC_URL}/t/{resource.tenant.slug}/resources/{resource.pk}/protected-resource-metadata"


def minimal_scopes(resource: MCPResource, scopes=None) -> list[str]:
    """The scopes a client should ask for first: the default-granted ones (all, if none is marked
    default). Scopes granted only on request are announced in a 403 step-up challenge instead, so a
    client following the MCP scope-selection strategy does not ask for everything up front."""
    scopes = list(resource.scopes.all()) if scopes is None else scopes
    names = [s.name for s in scopes if s.granted_by_default] or [s.name for s in scopes]
    return sorted(n for n in names if n not in AS_ONLY_SCOPES)


def tool_scopes(resource: MCPResource) -> dict[str, list[str]]:
    return {tool.name: sorted(s.name for s in tool.required_scopes.all())
            for tool in resource.tools.prefetch_related("required_scopes")}


def prm_document(resource: MCPResource, *, mirror: bool = False) -> dict:
    document = {
        "resource": resource.uri,
        "authorization_servers": [resource.tenant.issuer],
        "scopes_supported": minimal_scopes(resource),
        "bearer_methods_supported": ["header"],
        "resource_name": resource.display_name or resource.name,
    }
    if resource.documentation_url:
        document["resource_documentation"] = resource.documentation_url
    if mirror:
        document[TOOL_SCOPES_MEMBER] = tool_scopes(resource)
    return document


def render(document: dict) -> tuple[bytes, str]:
    """(body, strong ETag) with a stable byte form, so the ETag changes exactly when the content does."""
    rendered = documents.render(document, max_age=CACHE_MAX_AGE)
    return rendered.body, rendered.etag


def gateway_document(tenant, name: str) -> documents.Document | None:
    """The PRM of the tenant's active gateway resource ``name``, rendered once per tenant generation (a
    change of the resource, its scopes or the tenant moves it); None when there is no such resource."""
    from . import selectors

    def load():
        resource = selectors.active_gateway_resource(tenant, name)
        return None if resource is None else documents.render(prm_document(resource), max_age=CACHE_MAX_AGE)
    return near(tenant.pk, "prm-document", ("gateway", name), load)


def mirror_document(tenant, resource_id) -> documents.Document | None:
    """The mirror document of the tenant's active resource ``resource_id`` (its tools' scopes included)."""
    from . import selectors

    def load():
        resource = selectors.active_resource(tenant, resource_id)
        return None if resource is None else documents.render(prm_document(resource, mirror=True),
                                                               max_age=CACHE_MAX_AGE)
    return near(tenant.pk, "prm-document", ("mirror", str(resource_id)), load)
