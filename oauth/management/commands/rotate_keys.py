from django.core.management.base import BaseCommand, CommandError

from audit.services import Actor
from kit.errors import ApplicationError
from tenants.models import Tenant, TenantStatus

from ...signing import rotation
from ..progress import ProgressBar

ACTOR = Actor("operator", "cli", "manage.py rotate_keys")


class Command(BaseCommand):
    help = ("Rotate signing keys now: the next key signs, the active one retires (published until its tokens "
            "expire). --emergency: the key is compromised; it leaves the JWKS at once and its tokens are "
            "revoked. --scheduled: only what the tenants' rotation policies have due (what beat runs).")

    def add_arguments(self, parser):
        parser.add_argument("--tenant", action="append", metavar="SLUG",
                            help="tenant to rotate (repeatable); default: every active tenant")
        parser.add_argument("--all-tenants", action="store_true",
                            help="required with --emergency and no --tenant (revokes tokens platform-wide)")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--emergency", action="store_true", help="the active key is compromised")
        mode.add_argument("--scheduled", action="store_true", help="run the policy-driven lifecycle step only")

    def handle(self, *args, tenant=None, emergency=False, scheduled=False, all_tenants=False, **options):
        if emergency and not tenant and not all_tenants:
            raise CommandError("--emergency revokes every token the active keys signed: name the tenant(s) with "
                               "--tenant, or say --all-tenants if every tenant's key is compromised")
        tenants = Tenant.objects.filter(status=TenantStatus.ACTIVE).order_by("slug")
        if tenant:
            tenants = tenants.filter(slug__in=tenant)
            missing = set(tenant) - set(tenants.values_list("slug", flat=True))
            if missing:
                raise CommandError(f"no active tenant {', '.join(sorted(missing))}; list them with the console "
                                   "or Django admin")
        tenants = list(tenants)
        if scheduled:
            due = set(rotation.due_tenant_ids())
            tenants = [t for t in tenants if t.pk in due]
        bar = ProgressBar(self.stderr, "emergency rotation" if emergency else "rotating keys")
        rotated = 0
        for done, item in enumerate(tenants, start=1):
            try:
                if scheduled:
                    rotated += bool(rotation.rotation_step(tenant=item).rotated)
                elif emergency:
                    result = rotation.key_emergency_rotate(tenant=item, actor=ACTOR)
                    if result:
                        rotated += 1
                        self.stdout.write(f"{item.slug}: {result.compromised} removed, {result.active.kid} "
                                          f"active, {result.revoked} tokens revoked")
                else:
                    current = rotation.active_key_of(item)  # rotate once even if another operator races us
                    rotated += bool(rotation.key_rotate_now(tenant=item, actor=ACTOR,
                                                            expected_kid=current.kid if current else None))
            except ApplicationError as exc:
                raise CommandError(f"{item.slug}: {exc}") from exc
            bar.update(done, len(tenants))
        bar.done()
        self.stdout.write(self.style.SUCCESS(f"rotated the keys of {rotated} of {len(tenants)} tenant(s)"))
