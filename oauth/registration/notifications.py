"""Telling admins that a registration waits for them: an e-mail to the policy's addresses and an
HMAC-signed webhook, both from a Celery task with retries (enqueued after the commit, so the worker sees
the registration)."""

from __future__ import annotations

import json
import time

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from audit.streaming import signature
from tenants import crypto

SIGNATURE_HEADER = "X-Registration-Signature"
TIMESTAMP_HEADER = "X-Registration-Timestamp"


class WebhookFailed(Exception):
    """The receiver did not answer 2xx; Celery retries with backoff."""


def notify_pending(registration, *, justified: bool = False) -> None:
    from .policy import policy_of
    from .tasks import notify_registration

    policy = policy_of(registration.tenant)
    if not (policy.notify_email_list or policy.webhook_url):
        return
    registration_id = str(registration.pk)
    transaction.on_commit(lambda: notify_registration.delay(registration_id, justified))


def payload(registration, *, justified: bool) -> dict:
    client = registration.application
    tenant = registration.tenant
    return {
        "event": "registration.justified" if justified else "registration.pending",
        "tenant": tenant.slug,
        "registration_id": str(registration.pk),
        "client_id": registration.public_client_id,
        "client_name": client.name,
        "source": registration.source,
        "redirect_uris": client.redirect_uris.split(),
        "justification": registration.justification,
        "decision_rule": registration.decision_rule,
        "review_url": settings.PUBLIC_URL + reverse("console:approval", kwargs={"slug": tenant.slug,
                                                                                "pk": registration.pk}),
    }


def send_email(registration, body: dict, recipients: list[str]) -> None:
    verb = "explained why they need" if body["event"] == "registration.justified" else "registered"
    send_mail(
        subject=f"[{registration.tenant.label}] {body['client_name']} waits for approval",
        message=(f"Someone {verb} the client '{body['client_name']}' ({body['source']}) at "
                 f"{registration.tenant.label}.\n\nRedirect URIs: {', '.join(body['redirect_uris'])}\n"
                 f"Justification: {body['justification'] or '(none yet)'}\n\nReview it: {body['review_url']}\n"),
        from_email=None, recipient_list=recipients)


def post_webhook(policy, body: dict) -> int:
    raw = json.dumps(body, sort_keys=True).encode()
    timestamp = str(int(time.time()))
    secret = crypto.decrypt(policy.webhook_secret, aad=f"registration-webhook:{policy.tenant_id}".encode()) \
        if policy.webhook_secret else b""
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp}
    if secret:
        # Signed over "<timestamp>.<body>" so a captured delivery cannot be replayed later with a new time.
        headers[SIGNATURE_HEADER] = signature(secret, timestamp.encode() + b"." + raw)
    try:
        response = httpx.post(policy.webhook_url, content=raw, headers=headers, timeout=10, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise WebhookFailed(f"webhook {policy.webhook_url} unreachable: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise WebhookFailed(f"webhook {policy.webhook_url} answered {response.status_code}")
    return response.status_code
