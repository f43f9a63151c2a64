"""``manage.py``'s entry point: Django's, without the commands that are there only to be refused."""

import sys

from django.core.management import ManagementUtility


class PlatformManagementUtility(ManagementUtility):
    def main_help_text(self, commands_only=False):
        from oauth.dot_commands.management.commands._refused import HIDDEN

        lines = super().main_help_text(commands_only).splitlines()
        kept = [line for line in lines if line.strip() not in HIDDEN and line.strip() != "[dot_commands]"]
        return "\n".join(kept)


def main(argv=None) -> None:
    PlatformManagementUtility(argv or sys.argv).execute()
