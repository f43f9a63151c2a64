"""What a token is for: its audience (RFC 8707 ``resource``) and its scopes.

One function decides it for the authorization endpoint (before consent) and the token endpoint (where
the request may only narrow what the code or refresh token carries), so both apply the same rules:

- ``resource`` names an active MCP resource of the tenant that the client is allowed, in its canonical
  spelling; anything else is ``invalid_target``. One resource per token (``aud`` is one MCP server).
- Without ``resource`` (RFC 8707 §2 lets the authorization server pick a default), the first of these
  that applies decides, the same at /authorize and for client_credentials at /token:
  1. ``scopes``: the one resource the client may use that defines every requested (non-protocol) scope;
  2. ``only_resource``: the client may use exactly one resource;
  3. ``sign_in``: sign-in scopes only (openid, profile, email): a token for the tenant's userinfo;
  4. ``tenant_default``: the tenant's default resource (authorization settings), if the client may use it;
  5. else ``invalid_target``, saying which resources the client may name and how an admin sets a default.
  The authorization_code and refresh_token grants keep the resource of the code or refresh token, which
  /authorize chose by this rule. How it was chosen (``Target.chosen_by``) is in the consent and
  ``token.issued`` audit events and on the consent page.
- Which resources a client may use is decided on each request (oauth.protocol.cache.permitted_resources): a
  pre-registered client's explicit list; a self-registered client's list plus every active resource that
  admits self-registered clients.
- Scopes must belong to the resource (plus openid/profile/email/offline_access) and to the client's
  allow-list when it has one. A request naming no scope of the resource gets the resource's default
  scopes (MCP clients omit ``scope`` when nothing is advertised), never ``access_denied``.
- The platform REST API (``{PUBLIC_URL}/api/v1``) is an audience only for confidential
  client_credentials clients, with admin scopes the client was given.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Q

from mcp_registry import selectors as registry
from mcp_registry.models import MCPResource
from mcp_registry.uris import InvalidResourceURI, canonical_resource_uri, inside_url_space

from ..config.selectors import tenant_settings
from ..models import ADMIN_SCOPES, OIDC_SCOPES, PROTOCOL_SCOPES, api_audience
from .cache import allowed_resource, permitted_resources

# How a token's resource was chosen: named by the request, or one of the default rule's steps (above).
CHOSEN_BY = ("request", "scopes", "only_resource", "sign_in", "tenant_default")
SHOWN_URIS = 5  # resources named in an invalid_target description

SELF_REGISTERED = ("dcr", "cimd")  # Application.registration_source of clients that registered themselves


class TargetError(Exception):
    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error, self.description = error, description


@dataclass(frozen=True)
class Target:
    audience: str
    scopes: tuple[str, ...]
    resource: MCPResource | None = None
    lifetime: int | None = None  # seconds, when the resource overrides the tenant default
    chosen_by: str = "request"  # CHOSEN_BY

    @property
    def chosen_by_default(self) -> bool:
        return self.chosen_by != "request"

    @property
    def scope(self) -> str:
        return " ".join(self.scopes)

    def scope_descriptions(self) -> list[tuple[str, str]]:
        described = {s.name: s.description for s in self.resource.scopes.all()} if self.resource else {}
        builtin = {"openid": "Confirm who you are", "profile": "See your name",
                   "email": "See your e-mail address", "offline_access": "Stay connected when you are away"}
        return [(s, described.get(s) or builtin.get(s, "")) for s in self.scopes]


def userinfo_audience(tenant) -> str:
    return f"{tenant.issuer}/userinfo"


def _dedupe(scopes) -> list[str]:
    seen = []
    for s in scopes or []:
        if s and s not in seen:
            seen.append(s)
    return seen


def _single_resource(resources: list[str]) -> str | None:
    resources = [r for r in resources or [] if r]
    if len(set(resources)) > 1:
        raise TargetError("invalid_target", "ask for one resource per token: each access token is for one MCP "
                                            "server (its aud)")
    return resources[0] if resources else None


def _resource_of(tenant, client, uri: str) -> MCPResource:
    try:
        canonical = canonical_resource_uri(uri)
    except InvalidResourceURI as exc:
        raise TargetError("invalid_target", f"resource '{uri[:200]}' is not a valid resource URI: {exc}") from exc
    resource = allowed_resource(tenant, client, canonical)  # cached: no query once warm (oauth/protocol/cache.py)
    if resource is None:
        if not registry.is_active_resource_uri(tenant, canonical):
            raise TargetError("invalid_target", f"resource '{canonical}' is not registered for tenant "
                                                f"'{tenant.slug}'")
        raise TargetError("invalid_target", f"client '{client.name or client.client_id}' is not allowed to get "
                                            f"tokens for '{canonical}'; an admin can allow it in the console")
    if not resource.is_gateway and inside_url_space(resource.uri, settings.PUBLIC_URL):
        # A row registered before the registry refused such URIs (mcp_registry.services.check_outside_platform):
        # a token for it would be a token for the platform itself.
        raise TargetError("invalid_target", f"resource '{canonical}' is inside the platform's own URL space")
    return resource


def resolve(*, tenant, client, resources: list[str], scopes: list[str] | None, grant_type: str) -> Target:
    uri = _single_resource(resources)
    requested = _dedupe(scopes)
    chosen_by = "request"
    if uri is not None and uri.rstrip("/") == api_audience():
        return _admin_target(client, requested, grant_type)
    if uri is None:
        if requested and set(requested) & set(ADMIN_SCOPES):
            return _admin_target(client, requested, grant_type)
        chosen = _default_resource(tenant, client, requested, grant_type)
        if isinstance(chosen, Target):
            return chosen
        uri, chosen_by = chosen
    resource = _resource_of(tenant, client, uri)
    names = {s.name for s in resource.scopes.all()}
    unknown = [s for s in requested if s not in names and s not in PROTOCOL_SCOPES]
    if unknown:
        raise TargetError("invalid_scope", f"scope {', '.join(sorted(unknown))!s} is not defined for resource "
                                           f"'{resource.uri}'; it offers: {', '.join(sorted(names)) or 'no scopes'}")
    if grant_type == "client_credentials":
        requested = [s for s in requested if s not in PROTOCOL_SCOPES]
    if client.allowed_scope_set:
        refused = [s for s in requested if s not in client.allowed_scope_set and s not in PROTOCOL_SCOPES]
        if refused:
            raise TargetError("invalid_scope", f"client may not ask for {', '.join(sorted(refused))}")
    defaults = [s.name for s in resource.scopes.all() if s.granted_by_default]
    if grant_type == "client_credentials" and client.registration_source in SELF_REGISTERED:
        # No person consents to a machine token: a self-registered client never gets more than the
        # resource grants by default (issue 16: anonymous clients minted notes:write).
        beyond = [s for s in requested if s in names and s not in defaults]
        if beyond:
            raise TargetError("invalid_scope", f"scope {', '.join(sorted(beyond))} needs a person's consent: a "
                                               "self-registered client's client_credentials tokens carry only the "
                                               "resource's default scopes; use the authorization code flow")
    if not any(s in names for s in requested):
        if client.allowed_scope_set:
            defaults = [s for s in defaults if s in client.allowed_scope_set]
        requested = defaults + requested
    return Target(audience=resource.uri, scopes=tuple(requested), resource=resource,
                  lifetime=resource.access_token_lifetime, chosen_by=chosen_by)


def _default_resource(tenant, client, requested: list[str], grant_type: str) -> tuple[str, str] | Target:
    """The default rule (module docstring): (uri, step) or a userinfo Target, else invalid_target."""
    permitted = permitted_resources(tenant, client)
    wanted = sorted({s for s in requested if s not in PROTOCOL_SCOPES})
    if wanted:
        owners = list(permitted.filter(scopes__name__in=wanted).annotate(
            owned=Count("scopes", filter=Q(scopes__name__in=wanted), distinct=True))
            .filter(owned=len(wanted)).values_list("uri", flat=True)[:2])
        if len(owners) == 1:
            return owners[0], "scopes"
    usable = list(permitted.values_list("uri", flat=True)[:SHOWN_URIS + 1])
    if len(usable) == 1:
        return usable[0], "only_resource"
    if grant_type != "client_credentials" and requested and set(requested) <= set(OIDC_SCOPES) \
            and "openid" in requested:
        return Target(audience=userinfo_audience(tenant), scopes=tuple(requested), chosen_by="sign_in")
    default_id = tenant_settings(tenant).default_resource_id
    default = permitted.filter(pk=default_id).values_list("uri", flat=True).first() if default_id else None
    if default is not None:
        return default, "tenant_default"
    raise TargetError("invalid_target", _no_default_description(tenant, client, usable, wanted, default_id))


def _no_default_description(tenant, client, usable: list[str], wanted: list[str], default_id) -> str:
    name = client.name or client.client_id
    if not usable:
        return (f"resource is required, and client '{name}' may not get tokens for any MCP server of tenant "
                f"'{tenant.slug}': an admin can allow it one (console: Clients; API: PATCH /api/v1/clients) or, "
                "for a self-registered client, switch on 'admits self-registered clients' on a resource")
    shown = ", ".join(usable[:SHOWN_URIS]) + (", ..." if len(usable) > SHOWN_URIS else "")
    why = (f"no single one of them defines the scopes {' '.join(wanted)}" if wanted
           else "the request names no scope that picks one")
    default = ("the tenant's default resource is not one this client may use" if default_id
               else f"tenant '{tenant.slug}' has no default resource")
    return (f"resource is required: name the MCP server this token is for with the RFC 8707 'resource' "
            f"parameter (this client may use {shown}); {why}, and {default}. An admin can set the default "
            "resource under the console's authorization settings or with PATCH /api/v1/authorization-settings "
            "{\"default_resource\": \"<resource URI>\"}")


def _admin_target(client, requested: list[str], grant_type: str) -> Target:
    if grant_type != "client_credentials" or not client.is_confidential:
        raise TargetError("invalid_target", "the platform API accepts only client_credentials tokens of "
                                            "confidential clients")
    granted = [s for s in ADMIN_SCOPES if s in client.allowed_scope_set]
    if not requested:
        requested = granted
    refused = [s for s in requested if s not in granted]
    if refused:
        raise TargetError("invalid_scope", f"client may not ask for {', '.join(sorted(refused))}; an admin can "
                                           "grant admin scopes to the client in the console")
    if not requested:
        raise TargetError("invalid_scope", "this client has no admin scopes for the platform API")
    return Target(audience=api_audience(), scopes=tuple(requested))


def narrow(*, tenant, client, audience: str, original_scopes: list[str],
           resources: list[str], scopes: list[str] | None, grant_type: str, chosen_by: str = "request") -> Target:
    """Token endpoint: re-check what the code/refresh token carries (the resource may have been disabled
    or disallowed since), letting the request narrow but never widen it. ``chosen_by``: how the grant's
    resource was chosen at /authorize; a token request that names the resource makes it "request"."""
    requested_uri = _single_resource(resources)
    if requested_uri is not None:
        try:
            same = canonical_resource_uri(requested_uri) == audience
        except InvalidResourceURI:
            same = requested_uri.rstrip("/") == audience
        if not same:
            raise TargetError("invalid_target", f"resource '{requested_uri[:200]}' was not part of the "
                                                f"authorization; this grant is for '{audience}'")
    if requested_uri is not None:
        chosen_by = "request"
    wanted = _dedupe(scopes) or list(original_scopes)
    wider = [s for s in wanted if s not in original_scopes]
    if wider:
        raise TargetError("invalid_scope", f"scope {', '.join(wider)} was not granted; ask the user again")
    if audience == userinfo_audience(tenant):
        return Target(audience=audience, scopes=tuple(wanted), chosen_by=chosen_by)
    target = resolve(tenant=tenant, client=client, resources=[audience], scopes=wanted, grant_type=grant_type)
    return Target(audience=target.audience, scopes=tuple(wanted), resource=target.resource,
                  lifetime=target.lifetime, chosen_by=chosen_by)
