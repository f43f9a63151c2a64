from django.core.management.base import BaseCommand, CommandError

from audit.services import Actor
from kit.errors import ApplicationError
from tenants.selectors import tenant_by_slug


class Command(BaseCommand):
    help = ("Verify, remove or list a tenant's e-mail domains (operator only). Only the tenant that verified a "
            "domain lets its identity providers create or claim accounts for addresses there; check the "
            "tenant's control of the domain (a DNS TXT record, a contract) before you verify it.")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["verify", "remove", "list"])
        parser.add_argument("tenant", help="the tenant's slug")
        parser.add_argument("domain", nargs="?", default="")

    def handle(self, *args, action, tenant, domain, **options):
        from identity.models import VerifiedEmailDomain
        from identity.services import email_domain_remove, email_domain_verify

        found = tenant_by_slug(tenant)
        if found is None:
            raise CommandError(f"no tenant with slug {tenant!r}")
        actor = Actor("operator", "", "manage.py email_domain")
        if action == "list":
            for row in VerifiedEmailDomain.objects.for_tenant(found):
                self.stdout.write(f"{row.domain}\tverified {row.created_at:%Y-%m-%d} by {row.verified_by}")
            return
        if not domain:
            raise CommandError(f"{action} needs a domain")
        try:
            if action == "verify":
                email_domain_verify(tenant=found, domain=domain, actor=actor)
                self.stdout.write(self.style.SUCCESS(f"{domain} verified for {found.slug}"))
            elif email_domain_remove(tenant=found, domain=domain, actor=actor):
                self.stdout.write(self.style.SUCCESS(f"{domain} removed from {found.slug}"))
            else:
                raise CommandError(f"{domain} is not a verified domain of {found.slug}")
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc
