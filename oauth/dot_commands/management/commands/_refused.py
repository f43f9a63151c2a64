import sys

from django.core.management.base import BaseCommand, CommandError

HIDDEN = ("createapplication", "cleartokens", "clearcimdapplications")


def refused(name: str, instead: str) -> type[BaseCommand]:
    class Command(BaseCommand):
        help = f"Refused: django-oauth-toolkit's {name} bypasses the tenant services and the audit log. {instead}"

        message = (f"`{name}` is django-oauth-toolkit's tenant-blind command and is not available here: it "
                   f"would bypass the tenant services and the audit log. {instead}")

        def run_from_argv(self, argv):
            # Whatever DOT's version took (--name, --client-id, ...): the answer is the same, before parsing.
            self.stderr.write(f"CommandError: {self.message}")
            sys.exit(1)

        def handle(self, *args, **options):
            raise CommandError(self.message)

    return Command
