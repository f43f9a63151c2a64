"""Every write to the registry: resources, their scopes and tools. Each records its audit event in the
same transaction (resource.created/updated/disabled/enabled/deleted/verified, resource.scopes_changed,
resource.tools_changed)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

import audit
from kit import crypto, egress
from kit.errors import ApplicationError
from tenants.models import Tenant

from . import prm
from .models import SCOPE_NAME, HostingMode, MCPResource, ResourceScope, ResourceStatus, ResourceTool
from .uris import InvalidResourceURI, canonical_resource_uri, inside_url_space

UPDATABLE_FIELDS = ("display_name", "description", "uri", "upstream_url", "documentation_url",
                    "access_token_lifetime", "admits_self_registered")


class RegistryError(ApplicationError):
    """A registry rule refused the change; the message says what to do instead."""


def _validated(instance, exclude=()):
    try:
        instance.full_clean(exclude=list(exclude), validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise RegistryError(f"{field}: {' '.join(messages)}", field=field) from exc
    return instance


def _canonical(uri: str) -> str:
    try:
        return canonical_resource_uri(uri)
    except InvalidResourceURI as exc:
        raise RegistryError(str(exc), field="uri") from exc


def check_outside_platform(uri: str) -> None:
    """An external resource's URI must not name the platform itself: PUBLIC_URL and everything under it
    (the admin API, other tenants' issuers and gateway paths) or a tenant's verified custom domain. A
    token for such an audience would be a token for the platform (an admin-API token from an
    ``admin:resources`` token), and a squatted gateway path would lock its tenant out of it. The
    platform-served gateway path of a tenant is its gateway resource's, created only in gateway mode."""
    if inside_url_space(uri, settings.PUBLIC_URL):
        raise RegistryError(f"{uri} is inside the platform's own URL space ({settings.PUBLIC_URL}); register your "
                            "MCP server's own URI, or let the platform host it with hosting mode 'gateway'",
                            code="reserved", field="uri")
    host = (urlsplit(uri).hostname or "").lower()
    if Tenant.objects.filter(custom_domain=host, custom_domain_verified=True).exists():
        raise RegistryError(f"{host} is a tenant's sign-in domain on this platform; register your MCP server's "
                            "own URI", code="reserved", field="uri")


def _check_uri_unclaimed(uri: str, *, tenant, exclude_pk=None) -> None:
    """A URI belongs to one tenant platform-wide: if two tenants' issuers could mint tokens with the same
    ``aud``, a server trusting one would accept the other's tokens (confused deputy)."""
    clash = MCPResource.objects.unscoped().filter(uri=uri).exclude(pk=exclude_pk).select_related("tenant").first()
    if clash is None:
        return
    if clash.tenant_id == tenant.pk:
        raise RegistryError(f"resource '{clash.name}' already has the URI {uri}; a URI names one resource",
                            code="duplicate", field="uri")
    # Neutral on purpose: whether another tenant holds this URI is that tenant's business (issue 16, item 17).
    raise RegistryError(f"the resource URI {uri} is not available; use a URI on a host you control",
                        code="duplicate", field="uri")


def _upstream(url: str) -> str:
    url = (url or "").strip()
    if not url:
        raise RegistryError("a gateway resource needs the URL of its upstream MCP server (streamable HTTP)",
                            field="upstream_url")
    try:
        canonical = canonical_resource_uri(url)
    except InvalidResourceURI as exc:
        raise RegistryError(f"upstream URL: {exc}", field="upstream_url") from exc
    try:  # the gateway calls it for every request: the egress guard's rules at save time too
        egress.check_url(canonical, egress.policy(), resolution_required=False)
    except egress.EgressError as exc:
        raise RegistryError(f"upstream URL: {exc}", field="upstream_url") from exc
    return canonical


def _scope_fields(spec) -> dict:
    if isinstance(spec, str):
        spec = {"name": spec}
    name = (spec.get("name") or "").strip()
    try:
        SCOPE_NAME(name)
    except ValidationError as exc:
        raise RegistryError(f"scope '{name}': {exc.messages[0]}", field="scopes") from exc
    if name.startswith("admin:"):
        raise RegistryError(f"'{name}': scopes named admin:... are the platform API's; choose another name",
                            field="scopes")
    if name in prm.AS_ONLY_SCOPES:
        raise RegistryError(f"'{name}' is an authorization-server scope, granted by the issuer; it cannot be a "
                            "resource's scope", field="scopes")
    return {"name": name, "description": (spec.get("description") or "")[:300],
            "granted_by_default": bool(spec.get("granted_by_default", True))}


@transaction.atomic
def resource_create(*, tenant, actor, name: str, hosting_mode: str = HostingMode.EXTERNAL, uri: str = "",
                    upstream_url: str = "", display_name: str = "", description: str = "",
                    documentation_url: str = "", access_token_lifetime: int | None = None,
                    admits_self_registered: bool = True, scopes: Iterable = (), request=None) -> MCPResource:
    name = (name or "").strip().lower()
    if hosting_mode not in HostingMode.values:
        raise RegistryError(f"hosting mode must be one of {', '.join(HostingMode.values)}", field="hosting_mode")
    if MCPResource.objects.for_tenant(tenant).filter(name=name).exists():
        raise RegistryError(f"tenant '{tenant.slug}' already has a resource named '{name}'", code="duplicate",
                            field="name")
    if hosting_mode == HostingMode.GATEWAY:
        # The platform is the resource server: its URI is the platform's gateway path, not the caller's.
        uri, upstream_url = _canonical(prm.gateway_uri(tenant, name)), _upstream(upstream_url)
    else:
        uri, upstream_url = _canonical(uri), ""
        check_outside_platform(uri)
    _check_uri_unclaimed(uri, tenant=tenant)
    resource = MCPResource(tenant=tenant, name=name, hosting_mode=hosting_mode, uri=uri, upstream_url=upstream_url,
                           display_name=display_name.strip(), description=description,
                           documentation_url=documentation_url.strip(), access_token_lifetime=access_token_lifetime,
                           admits_self_registered=bool(admits_self_registered))
    _validated(resource, exclude=["tenant"])
    try:
        with transaction.atomic():
            resource.save()
    except IntegrityError as exc:  # a concurrent claim of the same name or URI
        raise RegistryError(f"the name '{name}' or URI {uri} was just taken; choose another", code="duplicate",
                            field="uri") from exc
    specs = [_scope_fields(s) for s in scopes]
    if len({s["name"] for s in specs}) != len(specs):
        raise RegistryError("each scope may be listed once", field="scopes")
    ResourceScope.objects.bulk_create(ResourceScope(tenant=tenant, resource=resource, **spec) for spec in specs)
    audit.record(tenant, actor, "resource.created", resource, request, uri=uri, hosting_mode=hosting_mode,
                 upstream_url=upstream_url, scopes=sorted(s["name"] for s in specs),
                 admits_self_registered=resource.admits_self_registered)
    return resource


@transaction.atomic
def resource_update(*, resource: MCPResource, actor, request=None, **changes) -> MCPResource:
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise RegistryError(f"cannot change {', '.join(sorted(unknown))} of a resource", field=sorted(unknown)[0])
    if "uri" in changes:
        if resource.is_gateway:
            if changes["uri"] and _canonical(changes["uri"]) != resource.uri:
                raise RegistryError("a gateway resource's URI is its platform path; it cannot be changed",
                                    field="uri")
            changes.pop("uri")
        else:
            changes["uri"] = _canonical(changes["uri"])
            check_outside_platform(changes["uri"])
    if "upstream_url" in changes:
        if not resource.is_gateway:
            if changes["upstream_url"]:
                raise RegistryError("only gateway resources have an upstream URL", field="upstream_url")
            changes.pop("upstream_url")
        else:
            changes["upstream_url"] = _upstream(changes["upstream_url"])
    changed = {}
    for field, value in changes.items():
        if isinstance(value, str) and field != "description":
            value = value.strip()
        if getattr(resource, field) != value:
            changed[field] = value
            setattr(resource, field, value)
    if not changed:
        return resource
    if "uri" in changed:
        _check_uri_unclaimed(resource.uri, tenant=resource.tenant, exclude_pk=resource.pk)
        # A verification proved the old URI; the new one must be proven again.
        resource.verified_at, resource.verification_error = None, ""
    _validated(resource, exclude=["tenant"])
    resource.save()
    audit.record(resource.tenant, actor, "resource.updated", resource, request,
                 changed=sorted(changed), **({"uri": resource.uri} if "uri" in changed else {}),
                 **({"admits_self_registered": resource.admits_self_registered}
                    if "admits_self_registered" in changed else {}))
    return resource


def _set_status(resource, status, actor, request, action):
    if resource.status == status:
        return resource
    resource.status = status
    resource.save(update_fields=["status", "updated_at"])
    audit.record(resource.tenant, actor, action, resource, request)
    return resource


@transaction.atomic
def resource_disable(*, resource: MCPResource, actor, request=None) -> MCPResource:
    """A disabled resource gets no new tokens and its PRM is withdrawn (404); the registry row stays."""
    return _set_status(resource, ResourceStatus.DISABLED, actor, request, "resource.disabled")


@transaction.atomic
def resource_enable(*, resource: MCPResource, actor, request=None) -> MCPResource:
    return _set_status(resource, ResourceStatus.ACTIVE, actor, request, "resource.enabled")


@transaction.atomic
def resource_delete(*, resource: MCPResource, actor, request=None) -> None:
    audit.record(resource.tenant, actor, "resource.deleted", resource, request, uri=resource.uri)
    resource.delete()


@transaction.atomic
def resource_set_management_token(*, resource: MCPResource, actor, token: str, request=None) -> MCPResource:
    """Stores (or, with an empty token, clears) the bearer token used to list the server's tools."""
    token = (token or "").strip()
    resource.management_token_encrypted = (crypto.encrypt(token.encode(), aad=resource.management_token_aad)
                                           if token else "")
    resource.save(update_fields=["management_token_encrypted", "updated_at"])
    audit.record(resource.tenant, actor, "resource.updated", resource, request,
                 changed=["management_token"], management_token="set" if token else "cleared")
    return resource


def management_token(resource: MCPResource) -> str:
    if not resource.management_token_encrypted:
        return ""
    return crypto.decrypt(resource.management_token_encrypted, aad=resource.management_token_aad).decode()


MIN_IDENTITY_SECRET_LENGTH = 32


@transaction.atomic
def resource_set_gateway_identity_secret(*, resource: MCPResource, actor, secret: str,
                                         request=None) -> MCPResource:
    """Sets (or, empty, clears) the secret the gateway signs its X-MCP-Identity assertion with."""
    if not resource.is_gateway:
        raise RegistryError("only gateway resources send an identity assertion upstream; an external server "
                            "reads the verified token from mcp_guard itself", field="secret")
    secret = (secret or "").strip()
    if secret and len(secret) < MIN_IDENTITY_SECRET_LENGTH:
        raise RegistryError(f"use a random secret of at least {MIN_IDENTITY_SECRET_LENGTH} characters; the "
                            "upstream verifies the assertion with it", field="secret")
    resource.gateway_identity_secret_encrypted = (
        crypto.encrypt(secret.encode(), aad=resource.gateway_identity_secret_aad) if secret else "")
    resource.save(update_fields=["gateway_identity_secret_encrypted", "updated_at"])
    audit.record(resource.tenant, actor, "resource.updated", resource, request,
                 changed=["gateway_identity_secret"], gateway_identity_secret="set" if secret else "cleared")
    return resource


def gateway_identity_secret(resource: MCPResource) -> str:
    if not resource.gateway_identity_secret_encrypted:
        return ""
    return crypto.decrypt(resource.gateway_identity_secret_encrypted,
                          aad=resource.gateway_identity_secret_aad).decode()


# --- Scopes ---------------------------------------------------------------------------------------

@transaction.atomic
def scope_save(*, resource: MCPResource, actor, name: str, description: str = "", granted_by_default: bool = True,
               request=None) -> ResourceScope:
    """Creates the scope, or updates its description and default flag if it exists."""
    spec = _scope_fields({"name": name, "description": description, "granted_by_default": granted_by_default})
    scope, created = ResourceScope.objects.get_or_create(resource=resource, name=spec["name"],
                                                         defaults={**spec, "tenant_id": resource.tenant_id})
    if not created:
        if (scope.description, scope.granted_by_default) == (spec["description"], spec["granted_by_default"]):
            return scope
        scope.description, scope.granted_by_default = spec["description"], spec["granted_by_default"]
        scope.save(update_fields=["description", "granted_by_default"])
    audit.record(resource.tenant, actor, "resource.scopes_changed", resource, request,
                 **{"added" if created else "updated": [scope.name]})
    return scope


@transaction.atomic
def scope_delete(*, scope: ResourceScope, actor, request=None) -> None:
    resource = scope.resource
    stranded = [t.name for t in scope.tools.all() if t.required_scopes.count() == 1]
    if stranded:
        raise RegistryError(f"tool(s) {', '.join(sorted(stranded))} need only scope '{scope.name}'; give them another "
                            "scope or delete them first", code="scope_in_use", field="scope")
    name = scope.name
    scope.delete()
    audit.record(resource.tenant, actor, "resource.scopes_changed", resource, request, removed=[name])


# --- Tools ----------------------------------------------------------------------------------------

def _resolve_scopes(resource, names, *, tool: str) -> list[ResourceScope]:
    names = sorted({n.strip() for n in (names or []) if n and n.strip()})
    if not names:
        raise RegistryError(f"tool '{tool}' needs at least one scope: name the scope a token must carry to call it",
                            field="scopes")
    found = {s.name: s for s in ResourceScope.objects.filter(resource=resource, name__in=names)}
    missing = [n for n in names if n not in found]
    if missing:
        raise RegistryError(f"resource '{resource.name}' has no scope {', '.join(missing)}; add the scope first",
                            field="scopes")
    return [found[n] for n in names]


def _tool_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 128:
        raise RegistryError("a tool name is 1-128 characters, as the MCP server's tools/list reports it",
                            field="name")
    return name


@transaction.atomic
def tool_save(*, resource: MCPResource, actor, name: str, scopes: Iterable[str], description: str = "",
              request=None) -> ResourceTool:
    """Creates or updates one tool and the scopes a token needs to call it."""
    name = _tool_name(name)
    required = _resolve_scopes(resource, scopes, tool=name)
    tool, created = ResourceTool.objects.get_or_create(
        resource=resource, name=name, defaults={"tenant_id": resource.tenant_id, "description": description})
    before = sorted(s.name for s in tool.required_scopes.all())
    if not created and tool.description != description:
        tool.description = description
        tool.save(update_fields=["description"])
    tool.required_scopes.set(required, through_defaults={"tenant_id": resource.tenant_id})
    after = sorted(s.name for s in required)
    if created or before != after:
        audit.record(resource.tenant, actor, "resource.tools_changed", resource, request,
                     **{"added" if created else "changed": {name: after}})
    return tool


@transaction.atomic
def tool_delete(*, tool: ResourceTool, actor, request=None) -> None:
    resource, name = tool.resource, tool.name
    tool.delete()
    audit.record(resource.tenant, actor, "resource.tools_changed", resource, request, removed=[name])


@transaction.atomic
def tools_apply_import(*, resource: MCPResource, actor, tools: Iterable[dict], remove: Iterable[str] = (),
                       request=None) -> dict:
    """Applies an import the admin confirmed: each tool ``{name, description, scopes, new_scopes}`` is
    saved (creating the proposed scopes it names in ``new_scopes``: ``{name, description}``), and the
    tools in ``remove`` are deleted. Returns the diff it applied, which is also the audit record."""
    tools, remove = list(tools), sorted({_tool_name(n) for n in remove})
    names = [_tool_name(t.get("name", "")) for t in tools]
    if len(set(names)) != len(names):
        raise RegistryError("each tool may be listed once in an import", field="tools")
    existing = {t.name: t for t in resource.tools.prefetch_related("required_scopes")}
    scope_names = set(resource.scopes.values_list("name", flat=True))
    created_scopes = []
    for spec in (s for t in tools for s in t.get("new_scopes", ())):
        fields = _scope_fields(spec)
        if fields["name"] not in scope_names:
            ResourceScope.objects.create(tenant_id=resource.tenant_id, resource=resource, **fields)
            scope_names.add(fields["name"])
            created_scopes.append(fields["name"])
    diff = {"added": [], "changed": [], "removed": [], "scopes_added": sorted(created_scopes)}
    for spec, name in zip(tools, names, strict=True):
        required = _resolve_scopes(resource, spec.get("scopes"), tool=name)
        tool = existing.get(name)
        if tool is None:
            tool = ResourceTool.objects.create(tenant_id=resource.tenant_id, resource=resource, name=name,
                                               description=spec.get("description", ""))
            diff["added"].append(name)
        elif (sorted(s.name for s in tool.required_scopes.all()) != sorted(s.name for s in required)
              or tool.description != spec.get("description", tool.description)):
            tool.description = spec.get("description", tool.description)
            tool.save(update_fields=["description"])
            diff["changed"].append(name)
        tool.required_scopes.set(required, through_defaults={"tenant_id": resource.tenant_id})
    for name in remove:
        if name in existing and name not in names:
            existing[name].delete()
            diff["removed"].append(name)
    resource.tools_synced_at = timezone.now()
    resource.save(update_fields=["tools_synced_at", "updated_at"])
    if created_scopes:
        audit.record(resource.tenant, actor, "resource.scopes_changed", resource, request, added=diff["scopes_added"])
    audit.record(resource.tenant, actor, "resource.tools_changed", resource, request, source="import",
                 added=diff["added"], changed=diff["changed"], removed=diff["removed"])
    return diff


# --- Verification ---------------------------------------------------------------------------------

@transaction.atomic
def resource_record_verification(*, resource: MCPResource, actor, error: str = "", request=None,
                                 record_unchanged: bool = True) -> MCPResource:
    """Stores a verification outcome. ``record_unchanged=False`` (the periodic re-check) audits only a
    change of outcome, so a healthy resource does not add an event to the log every few hours."""
    now = timezone.now()
    unchanged = resource.verification_checked_at is not None and resource.verification_error == error[:500]
    if unchanged and not record_unchanged:
        resource.verification_checked_at = now
        resource.save(update_fields=["verification_checked_at"])
        return resource
    resource.verification_checked_at = now
    resource.verification_error = error[:500]
    resource.verified_at = None if error else now
    resource.save(update_fields=["verification_checked_at", "verification_error", "verified_at", "updated_at"])
    if error:
        audit.record(resource.tenant, actor, "resource.verification_failed", resource, request,
                     uri=resource.uri, error=resource.verification_error)
    else:
        audit.record(resource.tenant, actor, "resource.verified", resource, request, uri=resource.uri)
    return resource


def resource_verify(*, resource: MCPResource, actor, request=None, timeout: float = 5.0,
                    record_unchanged: bool = True) -> MCPResource:
    """Fetches the server's PRM at its well-known path and checks that it names this resource and this
    tenant's issuer, then checks that the resource's URL itself answers as a protected MCP server (401 with a
    Bearer challenge). Gateway resources are checked the same way at their platform path: they are verified
    only where the running server routes it. The outcome (either way) is recorded and audited. Network I/O
    happens outside any transaction."""
    from .verification import check_published_prm, check_resource_answers

    error = check_published_prm(resource, timeout=timeout) or check_resource_answers(resource, timeout=timeout)
    return resource_record_verification(resource=resource, actor=actor, error=error, request=request,
                                        record_unchanged=record_unchanged)

