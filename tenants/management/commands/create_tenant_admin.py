import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audit.services import Actor
from kit.errors import ApplicationError
from tenants.models import Membership, Role
from tenants.selectors import tenant_by_slug
from tenants.services import membership_add, membership_change_role


class Command(BaseCommand):
    help = "Make a person owner (or --role) of a tenant, creating the account with a password if needed."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("email")
        parser.add_argument("--role", default=Role.OWNER, choices=Role.values)
        parser.add_argument("--password", help="for a new account (default: a generated one, printed once)")

    @transaction.atomic
    def handle(self, *args, slug, email, role, password=None, **options):
        tenant = tenant_by_slug(slug)
        if tenant is None:
            raise CommandError(f"no tenant with slug {slug!r}; create it with `manage.py create_tenant {slug}`")
        actor = Actor("operator", "cli", "manage.py")
        User = get_user_model()
        user = User.objects.filter(email__iexact=email).first()
        generated = None
        if user is None:
            generated = password or secrets.token_urlsafe(12)
            user = User.objects.create_user(email=email, password=generated)
        try:
            existing = Membership.objects.for_tenant(tenant).filter(user=user).first()
            if existing:
                membership_change_role(membership=existing, role=role, actor=actor)
            else:
                membership_add(tenant=tenant, email=user.email, role=role, actor=actor)
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"{user.email} is {role} of {tenant.slug}"))
        if generated and not password:
            self.stdout.write(f"password (shown once): {generated}")
