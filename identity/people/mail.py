"""The e-mails of invitations and password resets: tenant-branded (its name as the sender's, its colour
and logo in the HTML part), plain text first. A reset speaks the language of the page it was asked from; an
invitation, whose recipient has told us nothing yet, the tenant's default language (tenants/locale.py)."""

from __future__ import annotations

import re
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def sender_for(tenant) -> str:
    """DEFAULT_FROM_EMAIL's address under the tenant's name ("Acme <noreply@...>")."""
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    if tenant is not None:
        name = " ".join(_UNSAFE.sub(" ", tenant.label).split())[:80]
    return formataddr((name, address)) if name else address


def link_to(name: str, token: str, tenant=None) -> str:
    """An absolute link from PUBLIC_URL (never from a Host header); at a tenant's pages when it has one."""
    if tenant is not None:
        return settings.PUBLIC_URL + reverse(f"tenant-{name}-link", kwargs={"slug": tenant.slug, "token": token})
    return settings.PUBLIC_URL + reverse(f"{name}-link", kwargs={"token": token})


def send(template: str, *, to: str, tenant, context: dict, language: str = "") -> None:
    with translation.override(language or getattr(tenant, "default_language", "") or settings.LANGUAGE_CODE):
        context = {"tenant": tenant, "platform_name": parseaddr(settings.DEFAULT_FROM_EMAIL)[0] or "MCP Auth Platform",
                   **context}
        subject = " ".join(render_to_string(f"identity/email/{template}_subject.txt", context).split())
        text = render_to_string(f"identity/email/{template}.txt", context)
        html = render_to_string(f"identity/email/{template}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=sender_for(tenant), to=[to])
    message.attach_alternative(html, "text/html")
    message.send()
