"""The builders every test area uses, each through the service that production writes with (so each
object gets the validation, the rows around it and the audit event production gives it): people,
tenants, memberships, the four-person tenant world, MCP resources, OAuth clients, and the estate a
tenant's admins manage.

    from tests.factories import ACTOR, make_agent, make_client, make_resource

The fixtures in tests/conftest.py (make_user, make_tenant, make_world, world, resource, two_tenants) wrap
these; the drivers of the OAuth flows (authorize, exchange, client_credentials, ...) are in
tests/oauth/flows.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from audit.services import Actor

ACTOR = Actor("test", "", "pytest")
PASSWORD = "correct-horse-battery-staple"
REDIRECT_URI = "http://127.0.0.1:33418/callback"
DEFAULT_SCOPES = (("tools:read", "Read tools", True), ("tools:write", "Change things", False))


def make_user(email: str, password: str = PASSWORD, **extra):
    """An account with a password (accounts have no service of their own: sign-up is the identity app's)."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(email=email, password=password, **extra)


def make_tenant(slug: str, **kwargs):
    from tenants.services import tenant_create

    kwargs.setdefault("name", slug.title())
    return tenant_create(slug=slug, actor=ACTOR, **kwargs)


def add_member(tenant, user, role: str):
    """``user`` joins ``tenant`` with ``role``, through tenants.services.membership_add."""
    from tenants.services import membership_add

    return membership_add(tenant=tenant, email=user.email, role=role, actor=ACTOR)


@dataclass
class TenantWorld:
    """One tenant with an owner, an admin, an auditor and an end user, all with PASSWORD."""

    tenant: object
    owner: object
    admin: object
    auditor: object
    member: object

    @property
    def slug(self):
        return self.tenant.slug


def make_world(slug: str) -> TenantWorld:
    """Tenant ``slug`` with its people, ``<role>@<slug>.example`` each."""
    from tenants.models import Role

    tenant = make_tenant(slug)
    people = {}
    for role in (Role.OWNER, Role.ADMIN, Role.AUDITOR, Role.MEMBER):
        people[role.value] = make_user(f"{role}@{slug}.example")
        add_member(tenant, people[role.value], role)
    return TenantWorld(tenant, people["owner"], people["admin"], people["auditor"], people["member"])


@dataclass
class Estate:
    """What one tenant owns that its admins manage, built through the services and the real endpoints: an
    MCP resource at https://mcp.<slug>.example/mcp, a public client "<Slug> Desktop" the world's member
    authorized (its authorization and the tokens it got) and an admin bot "<Slug> ops bot" (a
    client_credentials client holding every admin scope). tests/security/conftest.py's FullEstate adds one
    of everything else a tenant owns."""

    world: TenantWorld
    resource: object
    client: object
    token: dict
    authorization: object
    agent: object
    agent_secret: str

    @property
    def tenant(self):
        return self.world.tenant

    @property
    def slug(self):
        return self.world.slug


def build_estate(world: TenantWorld, http, signed_in, *, resource_name: str = "files") -> Estate:
    """``http`` is a Django test client, ``signed_in(user)`` signs it in (tests/conftest.py's fixture); the
    caller signs out after."""
    from oauth.models import ADMIN_SCOPES
    from tests.oauth.flows import authorize, exchange

    slug, tenant = world.slug, world.tenant
    resource = make_resource(tenant, f"https://mcp.{slug}.example/mcp", name=resource_name)
    client, _ = make_client(tenant, resources=[resource], name=f"{slug.title()} Desktop")
    auth = authorize(signed_in(world.member), tenant, client, resource=resource.uri)
    token = exchange(http, tenant, client, auth, resource=resource.uri).json()
    assert "access_token" in token, token
    agent, secret = make_agent(tenant, scopes=list(ADMIN_SCOPES), name=f"{slug.title()} ops bot")
    return Estate(world, resource, client, token, auth, agent, secret)


def make_resource(tenant, uri: str = "", *, name: str | None = None, scopes=DEFAULT_SCOPES,
                  lifetime: int | None = None, tools: dict | None = None, **kwargs):
    """An active MCP resource through mcp_registry.services.resource_create. ``scopes`` are names, dicts
    or (name, description, granted_by_default); ``tools`` maps a tool's name to the scopes it needs;
    the rest goes to the service (hosting_mode, upstream_url, admits_self_registered, ...)."""
    from mcp_registry import services

    kwargs.setdefault("display_name", (name or "Test MCP").title())
    if name is None:
        name = urlsplit(uri).path.strip("/").replace("/", "-") or "mcp"
    specs = [{"name": s[0], "description": s[1], "granted_by_default": s[2]} if isinstance(s, tuple)
             else s for s in scopes]
    resource = services.resource_create(tenant=tenant, actor=ACTOR, name=name, uri=uri, scopes=specs,
                                        access_token_lifetime=lifetime, **kwargs)
    for tool, needed in (tools or {}).items():
        services.tool_save(resource=resource, actor=ACTOR, name=tool, scopes=needed)
    return resource


def make_client(tenant, *, resources=(), public: bool = True, grant_types=None, redirect_uris=(REDIRECT_URI,),
                scopes=(), name: str = "Test Client", **extra):
    """(client, secret or None) through oauth.clients.services.client_create."""
    from oauth.clients.services import client_create

    return client_create(tenant=tenant, name=name, client_type="public" if public else "confidential",
                         redirect_uris=list(redirect_uris), grant_types=grant_types,
                         allowed_resources=list(resources), scopes=list(scopes), actor=ACTOR, **extra)


def make_agent(tenant, *, resources=(), scopes=(), name: str = "Agent"):
    """A confidential client_credentials client: (client, secret)."""
    return make_client(tenant, resources=resources, public=False, grant_types=["client_credentials"],
                       redirect_uris=(), scopes=scopes, name=name)
