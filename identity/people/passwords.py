"""Password rules: Django's validators (settings.AUTH_PASSWORD_VALIDATORS) with a breached-password list
shipped in this package, checked offline (no network call, no third party learns a hash prefix).

data/breached-passwords.txt.gz holds about 40,000 of the passwords most often found in breach corpora:
Django's own list of 20,000 (BSD) joined with the 30,000 of Dropbox's zxcvbn (MIT), lower-cased.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import password_validation
from django.contrib.auth.password_validation import CommonPasswordValidator
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

BREACHED_LIST = Path(__file__).resolve().parent / "data" / "breached-passwords.txt.gz"


class BreachedPasswordValidator(CommonPasswordValidator):
    def __init__(self, password_list_path=BREACHED_LIST):
        super().__init__(password_list_path=password_list_path)

    def validate(self, password, user=None):
        if password.lower().strip() in self.passwords:
            raise ValidationError(_("This password appears in lists of breached passwords. Choose another."),
                                  code="password_breached")

    def get_help_text(self):
        return _("Your password can't be one found in known data breaches.")


def check(password: str, user=None) -> list[str]:
    """The messages of every rule ``password`` breaks (empty: it is acceptable)."""
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        return list(exc.messages)
    return []
