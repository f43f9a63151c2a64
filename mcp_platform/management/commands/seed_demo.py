"""Seeds the embedded default with a demo tenant and its admin (idempotent)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from audit.services import Actor
from mcp_registry import services as registry
from mcp_registry.models import MCPResource
from tenants.models import Membership, Role
from tenants.selectors import tenant_by_slug
from tenants.services import membership_add, tenant_create

DEMO_SLUG = "demo"
DEMO_EMAIL = "admin@demo.example"
DEMO_PASSWORD = "demo-admin-password"
OPERATOR_EMAIL = "operator@platform.example"
OPERATOR_PASSWORD = "operator-password"
# An MCP server a developer can start locally and protect with mcp_guard (README, "Protecting an MCP server").
DEMO_RESOURCE_URI = "http://127.0.0.1:8765/mcp"


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
        if not MCPResource.objects.for_tenant(tenant).filter(name="notes").exists():
            resource = registry.resource_create(
                tenant=tenant, actor=actor, name="notes", display_name="Notes", uri=DEMO_RESOURCE_URI,
                description="A demo MCP server: read and write notes.",
                scopes=[{"name": "notes:read", "description": "Read your notes"},
                        {"name": "notes:write", "description": "Create and change notes",
                         "granted_by_default": False}])
            registry.tool_save(resource=resource, actor=actor, name="list_notes", scopes=["notes:read"])
            registry.tool_save(resource=resource, actor=actor, name="add_note", scopes=["notes:write"])
        if not User.objects.filter(email=OPERATOR_EMAIL).exists():
            User.objects.create_superuser(email=OPERATOR_EMAIL, password=OPERATOR_PASSWORD, name="Operator")
        self.stdout.write(self.style.SUCCESS(
            f"demo tenant '{tenant.slug}' (issuer {tenant.issuer}), MCP resource {DEMO_RESOURCE_URI}\n"
            f"  tenant admin:      {DEMO_EMAIL} / {DEMO_PASSWORD}\n"
            f"  platform operator: {OPERATOR_EMAIL} / {OPERATOR_PASSWORD}"))
