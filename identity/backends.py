from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

from . import throttle


class EmailBackend(ModelBackend):
    """Password sign-in by e-mail, case-insensitive, with the same timing for unknown addresses."""

    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        email = (email or username or "").strip()
        if not email or password is None:
            return None
        User = get_user_model()
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            User().set_password(password)  # spend the hashing time an existing user would
            return None
        if throttle.account_wait(email) is not None:
            # A locked account signs in nowhere, whichever door the password came through (the console's
            # and tenants' sign-in pages answer 429 before this; anything else calling authenticate() too).
            User().set_password(password)  # spend the hashing time a check would
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
