from django.core.management.base import BaseCommand, CommandError

from audit.services import Actor
from kit.errors import ApplicationError
from tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant (its own issuer, keys, clients and users)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", help="display name (default: the slug)")

    def handle(self, *args, slug, name=None, **options):
        try:
            tenant = tenant_create(slug=slug, name=name or slug, actor=Actor("operator", "cli", "manage.py"))
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"created tenant {tenant.slug}; issuer {tenant.issuer}"))
