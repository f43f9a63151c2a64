from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from audit.services import Actor
from kit.errors import ApplicationError
from mcp_registry import selectors as registry
from tenants.models import Tenant

from ...grants import revocation
from ...models import Application
from ..progress import ProgressBar

ACTOR = Actor("operator", "cli", "manage.py revoke_tokens")


class Command(BaseCommand):
    help = ("Revoke the tokens of a client, a user and/or a resource of one tenant (or --all of them), in "
            "batches, with a progress bar. The run is logged as a job and can be re-run safely.")

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, metavar="SLUG")
        parser.add_argument("--client", metavar="CLIENT_ID")
        parser.add_argument("--user", metavar="EMAIL")
        parser.add_argument("--resource", metavar="URI_OR_NAME")
        parser.add_argument("--all", action="store_true", help="every token of the tenant")
        parser.add_argument("--batch-size", type=int, default=revocation.BATCH_SIZE)

    def handle(self, *args, tenant, client=None, user=None, resource=None, all=False, batch_size, **options):
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"no tenant '{tenant}'")
        criteria = {"everything": all}
        if client:
            criteria["client"] = Application.objects.for_tenant(found).filter(client_id=client).first()
            if criteria["client"] is None:
                raise CommandError(f"tenant '{tenant}' has no client '{client}'")
        if user:
            criteria["user"] = get_user_model().objects.filter(email__iexact=user).first()
            if criteria["user"] is None:
                raise CommandError(f"no user with e-mail '{user}'")
        if resource:
            # A URI nothing is registered at still names the audience of tokens to revoke.
            criteria["resource"] = registry.resource_by_uri_or_name(found, resource) or resource
        try:
            run = revocation.revocation_request(tenant=found, actor=ACTOR, enqueue=False, **criteria)
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc
        bar = ProgressBar(self.stderr, "revoking")
        finished = revocation.revocation_run(run_id=run.pk, batch_size=batch_size, on_batch=bar.update)
        bar.done()
        self.stdout.write(self.style.SUCCESS(f"revoked {finished.result.get('revoked', 0)} token(s) and codes "
                                             f"(job {run.pk})"))
