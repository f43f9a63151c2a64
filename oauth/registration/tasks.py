"""Celery wrappers of the registration services (ids in, re-fetched, idempotent, acks_late)."""

from __future__ import annotations

from celery import shared_task

import audit
from kit.tenancy import tenant_context
from tenants.models import Tenant

from .models import ClientRegistration
from .notifications import NOTIFY_TASK, WebhookFailed, payload, post_webhook, recipients_of, send_email
from .policy import policy_of
from .services import registrations_expire_unused


@shared_task(name=NOTIFY_TASK, acks_late=True, ignore_result=True, bind=True, max_retries=6)
def notify_registration(self, registration_id: str, justified: bool = False):
    """E-mail and webhook for a registration that waits. E-mail goes once; the webhook is retried with
    exponential backoff until the receiver answers 2xx (the payload is the same on every try)."""
    registration = ClientRegistration.objects.unscoped().select_related("application", "tenant").filter(
        pk=registration_id).first()
    if registration is None:
        return  # deleted or expired meanwhile: nobody to tell
    tenant = registration.tenant
    with tenant_context(tenant):
        policy = policy_of(tenant)
        body = payload(registration, justified=justified)
        recipients = recipients_of(policy)
        if self.request.retries == 0 and recipients:
            send_email(registration, body, recipients)
        if policy.webhook_url:
            try:
                status = post_webhook(policy, body)
            except WebhookFailed as exc:
                if self.request.retries >= self.max_retries:
                    audit.record(tenant, None, "registration.notification_failed", registration.application, None,
                                 client_id=registration.application.public_client_id, reason=str(exc)[:300])
                    return
                raise self.retry(exc=exc, countdown=min(2 ** self.request.retries, 300)) from exc
            audit.record(tenant, None, "registration.notified", registration.application, None,
                         client_id=registration.application.public_client_id, webhook_status=status,
                         emails=len(recipients), event=body["event"])


@shared_task(name="oauth.registration.expire_unused", acks_late=True, ignore_result=True)
def expire_unused_registrations():
    """Beat job: per tenant, delete registered clients never used within the policy's days."""
    for tenant in Tenant.objects.filter(status="active").iterator():
        with tenant_context(tenant):
            registrations_expire_unused(tenant=tenant)
