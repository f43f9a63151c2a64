from django.core.management.base import BaseCommand, CommandError

from audit.services import Actor
from kit.errors import ApplicationError
from tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant (its own issuer, keys, clients and users)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", help="display name (default: the slug)")
        parser.add_argument("--owner", metavar="EMAIL", default="",
                            help="its first owner, who is e-mailed an invitation (EMAIL_URL; consolemail:// prints it)")

    def handle(self, *args, slug, name=None, owner="", **options):
        try:
            tenant = tenant_create(slug=slug, name=name or slug, actor=Actor("operator", "cli", "manage.py"),
                                   owner_email=owner)
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"created tenant {tenant.slug}; issuer {tenant.issuer}"))
        if owner:
            self.stdout.write(f"invitation e-mailed to its owner {owner}")
