"""Writes for people and their sign-in methods (SSO federation arrives with its issue)."""

from django.db import transaction

import audit


@transaction.atomic
def user_set_password(*, user, password: str, actor, request=None):
    user.set_password(password)
    user.save(update_fields=["password"])
    audit.record(None, actor, "user.password_set", user, request)
    return user

