"""Seeds the embedded default with a demo tenant and its admin, the Notes MCP resource the tour's demo server
serves, and the public client the tour's connect command uses (idempotent)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from audit.services import Actor
from mcp_platform.demo import notes
from mcp_registry import selectors as registry_selectors
from mcp_registry import services as registry
from mcp_registry.models import MCPResource
from oauth.clients import services as client_services
from oauth.models import Application
from tenants.models import Membership, Role
from tenants.selectors import tenant_by_slug
from tenants.services import membership_add, tenant_create

DEMO_SLUG = "demo"
DEMO_EMAIL = "admin@demo.example"
DEMO_PASSWORD = "demo-admin-password"
OPERATOR_EMAIL = "operator@platform.example"
OPERATOR_PASSWORD = "operator-password"
# The pre-registered public client of `python -m mcp_platform.demo.connect` (a native app: loopback redirect on
# any port, RFC 8252 §7.3, PKCE, no secret).
CONNECT_CLIENT_ID = "notes-demo-connect"
CONNECT_REDIRECT_URI = "http://127.0.0.1/callback"


class Command(BaseCommand):
    help = "Create the demo tenant, its admin and a platform operator if they do not exist."

    @transaction.atomic
    def handle(self, *args, **options):
        actor = Actor("operator", "seed", "seed_demo")
        tenant = tenant_by_slug(DEMO_SLUG) or tenant_create(slug=DEMO_SLUG, name="Demo Company", actor=actor,
                                                             display_name="Demo Company")
        User = get_user_model()
        admin = User.objects.filter(email=DEMO_EMAIL).first() or User.objects.create_user(
            email=DEMO_EMAIL, password=DEMO_PASSWORD, name="Demo Admin")
        if not Membership.objects.for_tenant(tenant).filter(user=admin).exists():
            membership_add(tenant=tenant, email=DEMO_EMAIL, role=Role.OWNER, actor=actor)
        resource = self._notes_resource(tenant, actor)
        if not Application.objects.unscoped().filter(client_id=CONNECT_CLIENT_ID).exists():
            client_services.client_create(tenant=tenant, name="Notes demo connect (MCP Python SDK)",
                                          client_type=Application.CLIENT_PUBLIC, redirect_uris=[CONNECT_REDIRECT_URI],
                                          allowed_resources=[resource], actor=actor, client_id=CONNECT_CLIENT_ID)
        if not User.objects.filter(email=OPERATOR_EMAIL).exists():
            User.objects.create_superuser(email=OPERATOR_EMAIL, password=OPERATOR_PASSWORD, name="Operator")
        self.stdout.write(self.style.SUCCESS(
            f"demo tenant '{tenant.slug}' (issuer {tenant.issuer}), MCP resource {resource.uri}\n"
            f"  tenant admin:      {DEMO_EMAIL} / {DEMO_PASSWORD}\n"
            f"  platform operator: {OPERATOR_EMAIL} / {OPERATOR_PASSWORD}"))

    def _notes_resource(self, tenant, actor) -> MCPResource:
        """The resource the demo server declares (mcp_platform/demo/notes.py: scopes, tools), at the URI of
        DEMO_MCP_PORT (moved there if the port changed since the last seed). Declared scopes and tools are
        saved on every seed, so a registry seeded by an older demo server catches up; unchanged ones are no-ops
        (and not audited)."""
        uri = notes.resource_uri(settings.DEMO_MCP_PORT)
        resource = registry_selectors.resource_by_uri_or_name(tenant, notes.NAME)
        if resource is None:
            resource = registry.resource_create(tenant=tenant, actor=actor, name=notes.NAME,
                                                display_name=notes.DISPLAY_NAME, uri=uri,
                                                description=notes.DESCRIPTION, scopes=notes.SCOPES)
        elif resource.uri != uri:
            resource = registry.resource_update(resource=resource, actor=actor, uri=uri)
        for scope in notes.SCOPES:
            registry.scope_save(resource=resource, actor=actor, **scope)
        for tool, scopes in notes.TOOLS.items():
            registry.tool_save(resource=resource, actor=actor, name=tool, scopes=scopes)
        return resource
