"""Where a second factor comes in: after the password (a pending sign-in, finished on the challenge page),
after a sign-in through a provider or under a new policy (a gate the middleware keeps shut until a factor
is proved or enrolled), before a sensitive action (step-up, ``kit.stepup``), and when an authorization
request asks for it (``acr_values``)."""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from kit import authn

from . import selectors

PENDING_KEY = "mfa_pending"  # a sign-in waiting for its second factor (nobody is signed in yet)
GATE_KEY = "mfa_gate"  # "challenge" or "enrol": this signed-in session must do that before anything else
PENDING_SECONDS = 300


def _tenant_slug(request) -> str:
    """The tenant whose branded pages this request is on (/t/<slug>/...), or "" for the console's."""
    tenant = getattr(request, "tenant", None)
    return tenant.slug if tenant is not None and request.path.startswith(f"/t/{tenant.slug}/") else ""


def url(name: str, slug: str, *, next_url: str = "") -> str:
    """An MFA page, on the tenant's pages when ``slug`` is set, else the console's."""
    path = reverse(f"tenant-{name}", kwargs={"slug": slug}) if slug else reverse(name)
    return f"{path}?{urlencode({'next': next_url})}" if next_url else path


def safe_next(request, target: str | None, slug: str = "") -> str:
    """A path on this host (tenant pages stay on the tenant's), else the home page: no open redirect."""
    if target and target.startswith("/") and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        if not slug or target.startswith(f"/t/{slug}/"):
            return target
    return reverse("tenant-home", kwargs={"slug": slug}) if slug else reverse("console:home")


def back_to_form(request) -> str:
    """The page a refused POST came from (same host), so the person returns there after the step-up;
    without one, the home page (never the posted URL: it may name an object the form never showed)."""
    referer = request.META.get("HTTP_REFERER", "")
    host = request.get_host()
    for prefix in (f"https://{host}", f"http://{host}"):
        if referer.startswith(prefix + "/"):
            return referer[len(prefix):]
    return ""


# --- sign-in -----------------------------------------------------------------------------------------

def sign_in(request, user, *, backend: str, methods: list[str], next_url: str):
    """After the first factor: a person with a factor gets the challenge before the session is theirs;
    a person without one is signed in, and sent to enrol when policy requires a factor."""
    slug = _tenant_slug(request)
    if selectors.has_factor(user):
        request.session[PENDING_KEY] = {"user": str(user.pk), "backend": backend, "methods": methods,
                                        "next": next_url, "slug": slug, "at": time.time()}
        return redirect(url("mfa-challenge", slug))
    return complete_sign_in(request, user, backend=backend, methods=methods, next_url=next_url)


def complete_sign_in(request, user, *, backend: str, methods: list[str], next_url: str):
    request._mfa_sign_in = True  # the user_logged_in receiver leaves this sign-in to us
    login(request, user, backend=backend)
    authn.record_sign_in(request.session, methods)
    slug = _tenant_slug(request)
    if not authn.SECOND_FACTOR_METHODS & set(methods) and selectors.second_factor_required(
            user, tenant=request.tenant if slug else None):
        request.session[GATE_KEY] = "enrol"
        return redirect(url("mfa-account", slug, next_url=next_url))
    return redirect(next_url)


def pending_user(request):
    """The person of the sign-in waiting for a second factor in this session, if it is recent."""
    pending = request.session.get(PENDING_KEY)
    if not pending or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None, None
    user = get_user_model().objects.filter(pk=pending["user"], is_active=True).first()
    return user, pending


def after_signal_sign_in(request, user) -> None:
    """A sign-in that did not come through ``sign_in`` (a provider's, an accepted invitation's, a password
    reset's, a test's ``force_login``): its methods, and the gate when the person has a factor this sign-in
    did not prove, or policy wants one they do not have."""
    if getattr(request, "_mfa_sign_in", False):
        return  # complete_sign_in records it
    method = getattr(request, "signin_method", "password")
    authn.record_sign_in(request.session, [] if method.startswith("sso:") else ["pwd"])  # invitation, reset: a password
    if selectors.has_factor(user):
        request.session[GATE_KEY] = "challenge"
    elif selectors.second_factor_required(user, tenant=request.tenant if _tenant_slug(request) else None):
        request.session[GATE_KEY] = "enrol"


def second_factor_proved(request, methods: list[str]) -> None:
    authn.record_second_factor(request.session, methods)
    request.session.pop(GATE_KEY, None)


# --- step-up -----------------------------------------------------------------------------------------

def step_up_challenge_url(request) -> str | None:
    """kit.stepup's requirement: a fresh factor (``MFA_STEP_UP_SECONDS``) for a person who has one or whom
    policy requires to have one (they are sent to enrol first)."""
    user = request.user
    slug = _tenant_slug(request)
    back = back_to_form(request)
    if selectors.has_factor(user):
        if authn.context(request.session).second_factor_within(settings.MFA_STEP_UP_SECONDS):
            return None
        return url("mfa-challenge", slug, next_url=back)
    if selectors.second_factor_required(user, tenant=getattr(request, "tenant", None)):
        return url("mfa-account", slug, next_url=back)
    return None
