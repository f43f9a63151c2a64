"""Seeds the embedded default with a demo tenant and its admin (idempotent)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from audit.services import Actor
from tenants.models import Membership, Role
from tenants.selectors import tenant_by_slug
from tenants.services import membership_add, tenant_create

DEMO_SLUG = "demo"
DEMO_EMAIL = "admin@demo.example"
DEMO_PASSWORD = "demo-admin-password"
OPERATOR_EMAIL = "operator@platform.example"
OPERATOR_PASSWORD = "operator-password"


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
        if not User.objects.filter(email=OPERATOR_EMAIL).exists():
            User.objects.create_superuser(email=OPERATOR_EMAIL, password=OPERATOR_PASSWORD, name="Operator")
        self.stdout.write(self.style.SUCCESS(
            f"demo tenant '{tenant.slug}' (issuer {tenant.issuer})\n"
            f"  tenant admin:      {DEMO_EMAIL} / {DEMO_PASSWORD}\n"
            f"  platform operator: {OPERATOR_EMAIL} / {OPERATOR_PASSWORD}"))
