"""Sign-in success and failure are security events."""

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

import audit
from audit.services import Actor

from . import throttle
from .session_binding import bind_session


@receiver(user_logged_in)
def _signed_in(sender, request, user, **kwargs):
    method = getattr(request, "signin_method", "password")
    bind_session(request, tenant=request.tenant if method.startswith("sso:") else None)
    audit.record(getattr(request, "tenant", None), user, "signin.succeeded", user, request,
                 method=method)


@receiver(user_logged_out)
def _signed_out(sender, request, user, **kwargs):
    if user is not None:
        audit.record(getattr(request, "tenant", None), user, "signin.signed_out", user, request)


@receiver(user_login_failed)
def _sign_in_failed(sender, credentials, request=None, **kwargs):
    email = (credentials.get("username") or credentials.get("email") or "")[:254]
    actor = Actor("anonymous", "", email)
    audit.record(getattr(request, "tenant", None), actor, "signin.failed", ("identity.user", "", email), request,
                 severity="notice", email=email)
    if throttle.failure_counted(email):
        audit.record(getattr(request, "tenant", None), actor, "signin.locked", ("identity.user", "", email), request,
                     email=email, failures=settings.SIGNIN_LOCKOUT_FAILURES,
                     seconds=settings.SIGNIN_LOCKOUT_SECONDS)
