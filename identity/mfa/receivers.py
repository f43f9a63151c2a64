from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from . import flow


@receiver(user_logged_in, dispatch_uid="identity.mfa.signed_in")
def _signed_in(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        flow.after_signal_sign_in(request, user)
