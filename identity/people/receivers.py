"""People's reactions: a member added with ``invite`` is invited; a removed member's invitations end;
sign-in and sign-out open and forget the tracked session."""

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from tenants.signals import membership_added, membership_removed

from . import services, sessions


@receiver(membership_added, dispatch_uid="identity.people.invite_added_member")
def _invite_added_member(sender, membership, actor, invite=False, **kwargs):
    if invite:
        services.invitation_create(membership=membership, actor=actor, request=kwargs.get("request"))


@receiver(membership_removed, dispatch_uid="identity.people.removed_member_invitations")
def _removed_member_invitations(sender, tenant, user, actor, **kwargs):
    services.invitations_revoke_for(tenant=tenant, user=user, actor=actor, request=kwargs.get("request"))


@receiver(user_logged_in, dispatch_uid="identity.people.session_opened")
def _session_opened(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        sessions.session_opened(request, user, method=getattr(request, "signin_method", "password"))


@receiver(user_logged_out, dispatch_uid="identity.people.session_closed")
def _session_closed(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        sessions.session_closed(request)
