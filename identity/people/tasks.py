"""Celery wrappers that e-mail links (ids in; the link's secret is made in the worker, never queued)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from kit.tenancy import tenant_context
from tenants.models import Tenant

from . import mail, services


@shared_task(name=services.SEND_INVITATION_TASK, acks_late=True, ignore_result=True)
def send_invitation(invitation_id: str, language: str = ""):
    issued = services.invitation_issue_link(invitation_id=invitation_id)
    if issued is None:
        return  # accepted, revoked or gone meanwhile
    invitation, token = issued
    with tenant_context(invitation.tenant):
        mail.send("invitation", to=invitation.email, tenant=invitation.tenant, language=language,
                  context={"invitation": invitation, "link": mail.link_to("invitation", token, invitation.tenant),
                           "hours": settings.INVITATION_MAX_AGE_HOURS})


@shared_task(name=services.SEND_PASSWORD_RESET_TASK, acks_late=True, ignore_result=True)
def send_password_reset(email: str, tenant_id: str | None = None, address: str = "", language: str = ""):
    tenant = Tenant.objects.filter(pk=tenant_id).first() if tenant_id else None
    created = services.password_reset_create(email=email, tenant=tenant, address=address)
    if created is None:
        return  # no such account here: nothing is sent, and the page said the same as for one
    reset, token = created
    mail.send("password_reset", to=reset.user.email, tenant=tenant, language=language,
              context={"user": reset.user, "link": mail.link_to("password-reset", token, tenant),
                       "minutes": settings.PASSWORD_RESET_MAX_AGE_MINUTES})
