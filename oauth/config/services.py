"""Writes of the tenant's authorization-server settings (token lifetimes, signing algorithm, default resource)."""

from __future__ import annotations

from django.db import transaction

import audit
from mcp_registry import selectors as registry
from mcp_registry.models import MCPResource

from ..errors import OAuthServiceError
from ..models import TenantAuthSettings
from .selectors import forget_tenant_settings


def tenant_auth_settings(tenant) -> TenantAuthSettings:
    found = TenantAuthSettings.objects.for_tenant(tenant).first()
    return found if found is not None else TenantAuthSettings(tenant=tenant)


@transaction.atomic
def tenant_auth_settings_update(*, tenant, actor, request=None, **changes) -> TenantAuthSettings:
    """``default_resource``: an MCPResource of the tenant, its URI, or None/"" for none (oauth/protocol/targets.py)."""
    allowed = {"access_token_lifetime", "refresh_token_lifetime", "signing_alg", "default_resource"}
    unknown = set(changes) - allowed
    if unknown:
        raise OAuthServiceError(f"cannot change {', '.join(sorted(unknown))}; settable: {', '.join(sorted(allowed))}")
    current = tenant_auth_settings(tenant)
    if "default_resource" in changes:
        changes["default_resource"] = _default_resource_of(tenant, changes["default_resource"])
    for field, value in changes.items():
        setattr(current, field, value)
    try:
        current.full_clean(exclude=["tenant"])
    except Exception as exc:  # ValidationError: report the first field's message
        field, messages = next(iter(getattr(exc, "message_dict", {"settings": [str(exc)]}).items()))
        raise OAuthServiceError(" ".join(messages), field=field) from exc
    current.save()
    forget_tenant_settings(tenant.pk)
    if "default_resource" in changes:  # the audit event names the resource, not a row id
        changes["default_resource"] = getattr(changes["default_resource"], "uri", None)
    audit.record(tenant, actor, "oauth_settings.updated", current, request, **changes)
    return current


def _default_resource_of(tenant, value) -> MCPResource | None:
    if value in (None, ""):
        return None
    if isinstance(value, MCPResource):
        if value.tenant_id != tenant.pk:
            raise OAuthServiceError(f"resource '{value.uri}' belongs to another tenant", field="default_resource")
        resource = value
    else:
        from mcp_registry.uris import InvalidResourceURI, canonical_resource_uri

        try:
            uri = canonical_resource_uri(str(value))
        except InvalidResourceURI as exc:
            raise OAuthServiceError(f"default_resource: {exc}", field="default_resource") from exc
        resource = registry.resource_by_uri(tenant, uri)
        if resource is None:
            raise OAuthServiceError(f"no resource '{uri}' is registered for tenant '{tenant.slug}'",
                                    field="default_resource")
    if not resource.is_active:
        raise OAuthServiceError(f"resource '{resource.uri}' is disabled; enable it first", field="default_resource")
    return resource
