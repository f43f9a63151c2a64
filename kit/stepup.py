"""Step-up: sensitive console actions (key rotation, retention, client approvals, SSO changes, member roles)
ask a signed-in person for a fresh second factor.

The port, as ``kit.joblog``: the views that need it live in audit, tenants, oauth and identity, while the
factors live in ``identity.mfa``, above all of them. identity.mfa plugs its ``requirement`` in at start-up
(``provide``); the views use ``StepUpMixin`` (class-based pages), ``step_up_required`` (function views); the REST API's
session callers get it through ``step_up = True`` on a tenant endpoint (tenants/api/base.py).

API credentials (OAuth access tokens of management clients) are machine clients: they have no second
factor to present, so the check does not apply to them; their scopes and the client's creator role bound
what they can do (README, "Multi-factor authentication").
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Protocol

from django.http import HttpResponseRedirect


class Requirement(Protocol):
    def __call__(self, request) -> str | None:
        """None when the request may go on; else the URL where the person proves (or enrols) a factor."""


_requirement: Requirement | None = None
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def provide(requirement: Requirement) -> None:
    """Called once by identity.mfa at start-up."""
    global _requirement
    _requirement = requirement


def challenge_url(request) -> str | None:
    """Where the person must go before this (unsafe) request may run, or None. Without identity.mfa
    installed there are no factors, so nothing to step up to."""
    user = getattr(request, "user", None)
    if _requirement is None or user is None or not user.is_authenticated or request.method in SAFE_METHODS:
        return None
    return _requirement(request)


class StepUpMixin:
    """Put after the console base in a view's bases (it runs once the tenant is bound):
    ``class KeysView(TenantConsoleMixin, StepUpMixin, TemplateView)``. An unsafe request without a fresh
    factor is redirected to the challenge, which comes back to the page the form was on."""

    def dispatch(self, request, *args, **kwargs):
        url = challenge_url(request)
        if url is not None:
            return HttpResponseRedirect(url)
        return super().dispatch(request, *args, **kwargs)


def step_up_required(view: Callable) -> Callable:
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        url = challenge_url(request)
        return HttpResponseRedirect(url) if url is not None else view(request, *args, **kwargs)

    return wrapped

