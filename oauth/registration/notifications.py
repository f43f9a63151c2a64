"""Telling admins that a registration waits for them: an e-mail to the policy's addresses and an
HMAC-signed webhook, both from a Celery task with retries (enqueued after the commit, so the worker sees
the registration)."""

from __future__ import annotations

import json
import re
import time

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from audit.streaming import signature
from kit import crypto, egress
from kit.tasks import enqueue
from tenants.models import CONSOLE_ROLES, Membership

from .policy import policy_of

SIGNATURE_HEADER = "X-Registration-Signature"
TIMESTAMP_HEADER = "X-Registration-Timestamp"
WEBHOOK_DEADLINE_SECONDS = 10.0  # the whole delivery; Celery retries after it
NOTIFY_TASK = "oauth.registration.notify"  # tasks.py; sent by name, since the tasks module imports this one


class WebhookFailed(Exception):
    """The receiver did not answer 2xx; Celery retries with backoff."""


def recipients_of(policy) -> list[str]:
    """The policy's addresses that belong to the tenant's owners, admins or auditors today: the platform
    writes to the tenant's own people only, never to an address someone merely typed (no mail relay)."""
    wanted = {email.lower(): email for email in policy.notify_email_list}
    if not wanted:
        return []
    members = set(Membership.objects.for_tenant(policy.tenant).filter(role__in=CONSOLE_ROLES)
                  .values_list("user__email", flat=True))
    members = {email.lower() for email in members}
    return [email for key, email in wanted.items() if key in members]


# Bidirectional overrides, zero-width and other format characters, and controls: a registrant's text
# must not rearrange or hide what the e-mail says.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def quoted(text: str, limit: int = 200) -> str:
    """Registrant-controlled text for a plain-text e-mail body: one line, no control or bidi characters,
    bounded, links defanged so no mail client turns them into something to click, inside quotes."""
    text = " ".join(_UNSAFE.sub(" ", str(text or "")).split())
    if len(text) > limit:
        text = text[:limit] + "..."
    return '"' + text.replace("://", "[://]").replace('"', "'") + '"'


def notify_pending(registration, *, justified: bool = False) -> None:
    policy = policy_of(registration.tenant)
    if not (recipients_of(policy) or policy.webhook_url):
        return
    registration_id = str(registration.pk)
    transaction.on_commit(lambda: enqueue(NOTIFY_TASK, registration_id, justified))


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
    """The subject is the platform's words only; what the registrant wrote appears in the body, quoted."""
    verb = "explained why they need" if body["event"] == "registration.justified" else "registered"
    uris = ", ".join(quoted(uri, 300) for uri in body["redirect_uris"][:10])
    justification = quoted(body["justification"], 1000) if body["justification"] else "(none yet)"
    send_mail(
        subject=f"[{registration.tenant.label}] A client registration waits for approval",
        message=(f"Someone {verb} a client at {registration.tenant.label} ({body['source']}). What follows in "
                 "quotes was written by the registrant, not by the platform; check it before you trust it.\n\n"
                 f"Client name: {quoted(body['client_name'])}\nRedirect URIs: {uris}\n"
                 f"Justification: {justification}\n\nReview it: {body['review_url']}\n"),
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
    try:  # checked again at send time: DNS may have changed since the URL was saved
        response = egress.fetch("POST", policy.webhook_url, egress.policy(timeout=WEBHOOK_DEADLINE_SECONDS),
                                content=raw, headers=headers)
    except egress.EgressError as exc:
        raise WebhookFailed(f"webhook {policy.webhook_url[:200]}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise WebhookFailed(f"webhook {policy.webhook_url[:200]} answered {response.status_code}")
    return response.status_code
