"""Writes for invitations, password resets and sessions; each records its audit event in the same
transaction. A link that is refused (forged, expired, used, revoked) changes nothing and is recorded by
``link_refused``, aggregated per address and minute (audit/failures.py), so anyone may try without
flooding the chain.

Ending sessions has one engine, ``sessions_end_rows``: each session is deleted from the session store,
with the back-channel logout row of an SSO session, and where tokens hang on a session they are revoked
as back-channel logout does (oauth.grants.services.tokens_revoke_for): an SSO session's tokens at its tenant, a
tenant admin's end of a member's sessions there, a password reset everywhere the person holds tokens.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

import audit
from audit.services import SYSTEM, Actor
from kit.errors import ApplicationError
from kit.tasks import enqueue

from ..models import FederatedSession, Invitation, InvitationStatus, PasswordReset, UserSession
from . import links, passwords
from .sessions import session_store

SEND_INVITATION_TASK = "identity.people.send_invitation"
SEND_PASSWORD_RESET_TASK = "identity.people.send_password_reset"


class PeopleError(ApplicationError):
    """An invitation or password change refused by a rule (the message says what to do instead)."""


class LinkRefused(Exception):
    """A link that opens nothing; ``reason`` is forged, expired, used or revoked."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _label(actor) -> str:
    return (getattr(actor, "email", "") or getattr(actor, "label", "") or str(actor or ""))[:255]


# --- Invitations --------------------------------------------------------------------------------------

def _invitation_expiry():
    return timezone.now() + timedelta(hours=settings.INVITATION_MAX_AGE_HOURS)


@transaction.atomic
def invitation_create(*, membership, actor, request=None) -> Invitation:
    """Invites a member who was just added; their earlier pending invitations to this tenant end."""
    tenant, user = membership.tenant, membership.user
    Invitation.objects.for_tenant(tenant).filter(user=user, accepted_at__isnull=True, revoked_at__isnull=True) \
        .update(revoked_at=timezone.now(), secret_digest="")
    invitation = Invitation.objects.create(tenant=tenant, user=user, email=user.email, role=membership.role,
                                           invited_by=_label(actor), expires_at=_invitation_expiry())
    audit.record(tenant, actor, "invitation.created", invitation, request, email=user.email, role=membership.role)
    invitation_id, language = str(invitation.pk), tenant.default_language  # the invitee has told us none
    transaction.on_commit(lambda: enqueue(SEND_INVITATION_TASK, invitation_id, language))
    return invitation


@transaction.atomic
def invitation_issue_link(*, invitation_id) -> tuple[Invitation, str] | None:
    """A fresh secret for a pending invitation (the mail task's step; the secret never crosses the
    broker): (invitation, token for the link), or None when it is no longer pending."""
    invitation = Invitation.objects.unscoped().select_for_update().select_related("tenant").filter(
        pk=invitation_id).first()
    if invitation is None or invitation.status != InvitationStatus.PENDING:
        return None
    secret, invitation.secret_digest = links.new_secret()
    invitation.sent_at, invitation.sends = timezone.now(), invitation.sends + 1
    invitation.save(update_fields=["secret_digest", "sent_at", "sends"])
    audit.record(invitation.tenant, SYSTEM, "invitation.sent", invitation, None, email=invitation.email,
                 sends=invitation.sends)
    return invitation, links.token_for(invitation.pk, secret)


@transaction.atomic
def invitation_resend(*, invitation: Invitation, actor, request=None) -> Invitation:
    """A new link with a new expiry; the previous link stops working now."""
    if invitation.status in (InvitationStatus.ACCEPTED, InvitationStatus.REVOKED):
        raise PeopleError(f"this invitation was {invitation.status}; add the person again to invite them anew",
                          code="conflict", status=409)
    invitation.expires_at, invitation.secret_digest = _invitation_expiry(), ""
    invitation.save(update_fields=["expires_at", "secret_digest"])
    audit.record(invitation.tenant, actor, "invitation.resent", invitation, request, email=invitation.email)
    invitation_id, language = str(invitation.pk), invitation.tenant.default_language
    transaction.on_commit(lambda: enqueue(SEND_INVITATION_TASK, invitation_id, language))
    return invitation


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor, request=None) -> Invitation:
    """The link stops working; the membership stays (remove the member to take their access away)."""
    if invitation.status == InvitationStatus.ACCEPTED:
        raise PeopleError("this invitation was already accepted", code="conflict", status=409)
    if invitation.revoked_at:
        return invitation
    invitation.revoked_at, invitation.secret_digest = timezone.now(), ""
    invitation.save(update_fields=["revoked_at", "secret_digest"])
    audit.record(invitation.tenant, actor, "invitation.revoked", invitation, request, email=invitation.email)
    return invitation


@transaction.atomic
def invitations_revoke_for(*, tenant, user, actor, request=None) -> int:
    """A removed member's pending invitations to the tenant end with the membership."""
    pending = list(Invitation.objects.for_tenant(tenant).filter(user=user, accepted_at__isnull=True,
                                                                revoked_at__isnull=True))
    for invitation in pending:
        invitation_revoke(invitation=invitation, actor=actor, request=request)
    return len(pending)


def invitation_for_link(tenant, token: str) -> Invitation:
    """The pending invitation a link opens at ``tenant``, or LinkRefused."""
    parsed = links.parse(token)
    invitation = Invitation.objects.for_tenant(tenant).select_related("user").filter(pk=parsed[0]).first() \
        if parsed else None
    if invitation is None:
        raise LinkRefused("forged")
    if invitation.status == InvitationStatus.ACCEPTED:
        raise LinkRefused("used")
    if invitation.status == InvitationStatus.REVOKED:
        raise LinkRefused("revoked")
    if not links.matches(parsed[1], invitation.secret_digest):
        raise LinkRefused("forged")  # an older link of a resent invitation, or a made-up secret
    if invitation.status == InvitationStatus.EXPIRED:
        raise LinkRefused("expired")
    return invitation


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user, password: str | None = None, request=None) -> Invitation:
    """``user`` (the invited account, signed in or setting its first password) accepts. With ``password``
    the account's password is set: only for an account that has none (see views)."""
    locked = Invitation.objects.for_tenant(invitation.tenant).select_for_update().get(pk=invitation.pk)
    if locked.status != InvitationStatus.PENDING:
        raise LinkRefused({"accepted": "used"}.get(locked.status, locked.status))
    if user.pk != locked.user_id:
        raise PeopleError("this invitation is for another account", code="forbidden")
    if password is not None:
        problems = passwords.check(password, user)
        if problems:
            raise PeopleError(" ".join(problems), field="password")
        user.set_password(password)
        user.save(update_fields=["password"])
        audit.record(None, user, "user.password_set", user, request, via="invitation")
    locked.accepted_at, locked.secret_digest = timezone.now(), ""
    locked.save(update_fields=["accepted_at", "secret_digest"])
    audit.record(locked.tenant, user, "invitation.accepted", locked, request, email=locked.email,
                 password_set=password is not None)
    return locked


def link_refused(*, tenant, kind: str, reason: str, request=None) -> None:
    """A refused invitation or reset link: recorded, aggregated per address, reason and minute."""
    address = (request.META.get("REMOTE_ADDR") if request is not None else "") or "unknown"
    audit.failure(tenant, f"{kind}.link_refused", source=f"{address} {reason}", actor=Actor("anonymous", "", ""),
                  target=(f"identity.{'invitation' if kind == 'invitation' else 'passwordreset'}", "", reason),
                  request=request, reason=reason)


# --- Password reset -----------------------------------------------------------------------------------

@transaction.atomic
def password_reset_create(*, email: str, tenant=None, address: str = "") -> tuple[PasswordReset, str] | None:
    """(reset, token) for an active account with this address (a member of ``tenant`` when given, whose
    domain the tenant does not sign in through SSO only), else None. Called by the mail task, so the
    page answers the same, as fast, whether or not the address exists."""
    from django.contrib.auth import get_user_model

    from ..selectors import sso_required_for

    user = get_user_model().objects.filter(email__iexact=(email or "").strip(), is_active=True).first()
    if user is None or (tenant is not None and (not user.memberships.filter(tenant=tenant).exists()
                                                or sso_required_for(tenant, user.email) is not None)):
        return None
    secret, digest = links.new_secret()
    reset = PasswordReset.objects.create(
        user=user, tenant=tenant, secret_digest=digest,
        expires_at=timezone.now() + timedelta(minutes=settings.PASSWORD_RESET_MAX_AGE_MINUTES))
    audit.record(tenant, Actor("anonymous", "", address), "password_reset.requested", user, None,
                 email=user.email, address=address)
    return reset, links.token_for(reset.pk, secret)


def password_reset_for_link(token: str) -> PasswordReset:
    parsed = links.parse(token)
    reset = PasswordReset.objects.select_related("user", "tenant").filter(pk=parsed[0]).first() if parsed else None
    if reset is None or not links.matches(parsed[1], reset.secret_digest):
        raise LinkRefused("forged")
    if reset.used_at:
        raise LinkRefused("used")
    if reset.expires_at <= timezone.now() or not reset.user.is_active:
        raise LinkRefused("expired")
    return reset


@transaction.atomic
def password_reset_complete(*, reset: PasswordReset, password: str, request=None) -> dict:
    """Sets the new password; this and every other outstanding reset link of the account die, and every
    session of the person ends, with the tokens they hold (sessions_end_rows)."""
    locked = PasswordReset.objects.select_for_update().select_related("user").get(pk=reset.pk)
    if locked.used_at:
        raise LinkRefused("used")
    if locked.expires_at <= timezone.now():
        raise LinkRefused("expired")
    user = locked.user
    problems = passwords.check(password, user)
    if problems:
        raise PeopleError(" ".join(problems), field="password")
    user.set_password(password)
    user.save(update_fields=["password"])
    now = timezone.now()
    PasswordReset.objects.filter(user=user, used_at__isnull=True).update(used_at=now)
    audit.record(None, user, "user.password_set", user, request, via="password_reset")
    ended = sessions_end_rows(UserSession.objects.filter(user=user), user=user, actor=user, reason="password_reset",
                              revoke="everywhere", request=request)
    audit.record(locked.tenant, user, "password_reset.completed", user, request, email=user.email, **ended)
    return ended


# --- Sessions -----------------------------------------------------------------------------------------

@transaction.atomic
def sessions_end_rows(rows, *, user, actor, reason: str, revoke: str = "sso", tenant=None, request=None) -> dict:
    """Ends the sessions of ``rows`` (UserSession) and what hangs on them.

    ``revoke``: "sso" revokes the person's tokens at the tenant of each ended SSO session (as its
    provider's back-channel logout would); "tenant" also at ``tenant``; "everywhere" at every tenant
    where the person holds tokens. Audited as sessions.ended, in ``tenant``'s chain (None: platform)."""
    from oauth.grants.selectors import tenant_ids_with_tokens_of
    from oauth.grants.services import tokens_revoke_for  # identity -> oauth: token revocation lives there
    from tenants.models import Tenant

    rows = list(rows)
    keys = [row.session_key for row in rows]
    federated = FederatedSession.objects.unscoped().filter(session_key__in=keys)
    tenant_ids = set(federated.values_list("tenant_id", flat=True))
    if revoke == "tenant" and tenant is not None:
        tenant_ids.add(tenant.pk)
    elif revoke == "everywhere":
        tenant_ids |= set(tenant_ids_with_tokens_of(user))
    store = session_store()
    for key in keys:
        store(session_key=key).delete()
    federated.delete()
    UserSession.objects.filter(session_key__in=keys).delete()
    revoked = sum(tokens_revoke_for(tenant=each, user=user, actor=actor, request=request)
                  for each in Tenant.objects.filter(pk__in=tenant_ids).order_by("pk"))
    audit.record(tenant, actor, "sessions.ended", user, request, reason=reason, sessions_ended=len(keys),
                 tokens_revoked=revoked, email=user.email)
    return {"sessions_ended": len(keys), "tokens_revoked": revoked}


@transaction.atomic
def own_sessions_end(*, user, session_keys=None, keep: str = "", request=None) -> dict:
    """A person ends one, several (``session_keys``) or all but ``keep`` of their own sessions."""
    rows = UserSession.objects.filter(user=user).exclude(session_key=keep or None)
    if session_keys is not None:
        rows = rows.filter(session_key__in=list(session_keys))
    return sessions_end_rows(rows, user=user, actor=user, reason="ended_by_person", request=request)


@transaction.atomic
def member_sessions_end(*, tenant, user, actor, request=None) -> dict:
    """A tenant admin ends a member's sessions that act at this tenant (opened at its pages or used there)
    and the member's tokens here; sessions that never touched this tenant are not its to end."""
    here = str(tenant.pk)
    rows = [row for row in UserSession.objects.filter(user=user)  # JSON containment is not portable (SQLite)
            if row.tenant_id == tenant.pk or here in (row.seen_at_tenants or [])]
    return sessions_end_rows(rows, user=user, actor=actor, reason="ended_by_admin", revoke="tenant", tenant=tenant,
                             request=request)
