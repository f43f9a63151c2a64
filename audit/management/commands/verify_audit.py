from django.core.management.base import BaseCommand, CommandError

from audit.selectors import verify_audit


class Command(BaseCommand):
    help = "Verify the audit hash chains; names the first broken row of each chain."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="slug of one tenant (default: every chain)")

    def handle(self, *args, tenant=None, **options):
        target = None
        if tenant:
            from django.apps import apps

            Tenant = apps.get_model("tenants", "Tenant")  # audit imports no app of ours
            target = Tenant.objects.filter(slug=tenant).first()
            if target is None:
                raise CommandError(f"no tenant with slug {tenant!r}")
        reports = verify_audit(target)
        broken = [r for r in reports if not r.ok]
        for report in reports:
            if report.ok:
                self.stdout.write(f"ok      chain {report.chain}: {report.events} events")
            else:
                self.stdout.write(self.style.ERROR(f"BROKEN  {report.first_break}"))
        if broken:
            raise CommandError(f"{len(broken)} of {len(reports)} chains are broken")
        self.stdout.write(self.style.SUCCESS(f"{len(reports)} chains verified"))
