from django.core.management.base import BaseCommand, CommandError

from audit.selectors import FilterError, parse_time, verify_audit


class Command(BaseCommand):
    help = ("Verify the audit hash chains and their signed checkpoints; names the first broken row of each "
            "chain. --since starts from the newest checkpoint signed before that time (fast, incremental).")

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="slug of one tenant (default: every chain)")
        parser.add_argument("--since", help="ISO 8601 date or date-time")

    def handle(self, *args, tenant=None, since=None, **options):
        target = None
        if tenant:
            from django.apps import apps

            Tenant = apps.get_model("tenants", "Tenant")  # audit imports no app of ours
            target = Tenant.objects.filter(slug=tenant).first()
            if target is None:
                raise CommandError(f"no tenant with slug {tenant!r}")
        try:
            since_at = parse_time("since", since) if since else None
        except FilterError as exc:
            raise CommandError(str(exc)) from exc
        reports = verify_audit(target, since=since_at)
        broken = [r for r in reports if not r.ok]
        for report in reports:
            if report.ok:
                self.stdout.write(f"ok      chain {report.chain}: {report.events} events from seq {report.from_seq}, "
                                  f"{report.checkpoints} signed checkpoints")
            else:
                self.stdout.write(self.style.ERROR(f"BROKEN  {report.first_break}"))
        if broken:
            raise CommandError(f"{len(broken)} of {len(reports)} chains are broken")
        self.stdout.write(self.style.SUCCESS(f"{len(reports)} chains verified"))
