"""Sign-in success and failure are security events; removal, suspension and deactivation end sessions."""

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

import audit
from audit.context import get_request_context
from audit.services import SYSTEM, Actor
from tenants.signals import membership_removed, tenant_suspended

from . import services, throttle
from .models import User
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


@receiver(membership_removed, dispatch_uid="identity.removed_member_sessions")
def _removed_member_sessions(sender, tenant, user, actor, **kwargs):
    services.sessions_end(actor=actor, reason="membership_removed", tenant=tenant, user=user)


@receiver(tenant_suspended, dispatch_uid="identity.suspended_tenant_sessions")
def _suspended_tenant_sessions(sender, tenant, actor, **kwargs):
    services.sessions_end(actor=actor, reason="tenant_suspended", tenant=tenant)


@receiver(pre_save, sender=User, dispatch_uid="identity.remember_is_active")
def _remember_is_active(sender, instance, update_fields=None, **kwargs):
    """Whether the row was active before this save (sign-in's last_login update skips the read)."""
    if instance.pk is None or instance._state.adding or (update_fields is not None and "is_active" not in
                                                          update_fields):
        instance._was_active = None
        return
    instance._was_active = User.objects.filter(pk=instance.pk).values_list("is_active", flat=True).first()


@receiver(post_save, sender=User, dispatch_uid="identity.deactivated_account_access")
def _deactivated_account_access(sender, instance, created, **kwargs):
    """However an account is deactivated (Django admin, a command, SCIM), what it holds ends with it."""
    if created or instance.is_active or not getattr(instance, "_was_active", None):
        return
    actor = getattr(instance, "_changed_by", None) or getattr(get_request_context(), "actor", None) or SYSTEM
    with transaction.atomic():
        services.account_deactivated(user=instance, actor=actor)
