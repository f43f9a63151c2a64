"""The first API client of a tenant, for scripts and CI: without it, calling /api/v1 needs the console's
sign-in form and a CSRF header."""

from django.core.management.base import BaseCommand, CommandError

from audit.services import Actor
from oauth import errors
from oauth.clients import services as client_services
from oauth.models import ADMIN_SCOPES, Application, api_audience
from tenants.selectors import tenant_by_slug


class Command(BaseCommand):
    help = ("Create a confidential client_credentials client of a tenant with admin scopes, for the REST API; "
            "prints its client id and secret once.")

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the tenant's slug")
        parser.add_argument("name", help="the client's name, as the console and the audit log show it")
        parser.add_argument("scopes", nargs="+", metavar="scope",
                            help=f"admin scopes (admin:<area> or admin:<area>.read): {' '.join(ADMIN_SCOPES)}")

    def handle(self, *args, slug, name, scopes, **options):
        tenant = tenant_by_slug(slug)
        if tenant is None:
            raise CommandError(f"no tenant with slug {slug!r}; create it with `manage.py create_tenant {slug}`")
        outside = sorted(set(scopes) - set(ADMIN_SCOPES))
        if outside:
            raise CommandError(f"not admin scopes: {', '.join(outside)}; an API client may hold only "
                               f"{', '.join(ADMIN_SCOPES)}")
        try:
            client, secret = client_services.client_create(
                tenant=tenant, name=name, client_type=Application.CLIENT_CONFIDENTIAL,
                grant_types=["client_credentials"], scopes=list(dict.fromkeys(scopes)),
                actor=Actor("operator", "cli", "manage.py"))
        except errors.OAuthServiceError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"client {client.name!r} created in {tenant.slug}"))
        self.stdout.write(f"client_id: {client.client_id}")
        self.stdout.write(f"client_secret (shown once): {secret}")
        self.stdout.write(f"get a token: POST /t/{tenant.slug}/token grant_type=client_credentials "
                          f"resource={api_audience()} (HTTP Basic with the id and secret)")
