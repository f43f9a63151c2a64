"""Tracking signed-in sessions (UserSession rows): opened at sign-in, touched at most once a minute,
forgotten at sign-out. Bookkeeping only; ending sessions is a service (services.sessions_end_rows)."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.utils import timezone

from ..models import UserSession

SEEN_SESSION_KEY = "people_seen"  # [unix time of the last touch, [tenant ids seen]]
TOUCH_SECONDS = 60


def session_store():
    return import_module(settings.SESSION_ENGINE).SessionStore


def _address(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _agent(request) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:300]


def session_opened(request, user, *, method: str) -> None:
    key = request.session.session_key
    if not key:
        return
    tenant = getattr(request, "tenant", None)
    now = timezone.now()
    UserSession.objects.update_or_create(
        session_key=key, defaults={"user": user, "tenant": tenant, "method": method[:80], "ip": _address(request),
                                   "user_agent": _agent(request), "created_at": now, "last_seen_at": now,
                                   "seen_at_tenants": [str(tenant.pk)] if tenant else []})
    request.session[SEEN_SESSION_KEY] = [int(time.time()), [str(tenant.pk)] if tenant else []]


def session_touched(request) -> None:
    """Called on every request of a signed-in session; writes only when a minute passed or the session
    is used at a tenant it was not seen at before."""
    session = request.session
    if not session.session_key or SESSION_KEY not in session:
        return
    seen_at, tenants = (session.get(SEEN_SESSION_KEY) or [0, []])[:2]
    tenant = getattr(request, "tenant", None)
    new_tenant = tenant is not None and str(tenant.pk) not in tenants
    if time.time() - seen_at < TOUCH_SECONDS and not new_tenant:
        return
    if new_tenant:
        tenants = [*tenants, str(tenant.pk)]
    now = timezone.now()
    changes = {"last_seen_at": now, "ip": _address(request), "seen_at_tenants": tenants}
    if not UserSession.objects.filter(session_key=session.session_key).update(**changes):
        # a session signed in before tracking began (or whose row was lost): tracked from now on
        UserSession.objects.create(session_key=session.session_key, user_id=request.user.pk, tenant=tenant,
                                   user_agent=_agent(request), created_at=now, **changes)
    session[SEEN_SESSION_KEY] = [int(time.time()), tenants]


def session_closed(request) -> None:
    if request.session.session_key:
        UserSession.objects.filter(session_key=request.session.session_key).delete()


def live_sessions(rows) -> list[UserSession]:
    """The rows whose session still exists (expired ones are dropped as they are found)."""
    store = session_store()()
    live, gone = [], []
    for row in rows:
        (live if store.exists(row.session_key) else gone).append(row)
    if gone:
        UserSession.objects.filter(session_key__in=[row.session_key for row in gone]).delete()
    return live


def forget_expired() -> int:
    """Rows older than any session can live (the scheduled clearsessions job calls this)."""
    cutoff = timezone.now() - timedelta(seconds=settings.SESSION_COOKIE_AGE)
    deleted, _ = UserSession.objects.filter(last_seen_at__lt=cutoff).delete()
    return deleted


_BROWSERS = (("Edge", r"Edg/"), ("Opera", r"OPR/"), ("Firefox", r"Firefox/"),
             ("Chrome", r"(?:Chrome|Chromium|HeadlessChrome)/"), ("Safari", r"Safari/"))
_SYSTEMS = (("Android", r"Android"), ("iOS", r"iPhone|iPad|iPod"), ("Windows", r"Windows"), ("macOS", r"Mac OS X"),
            ("ChromeOS", r"CrOS"), ("Linux", r"Linux"))


def device_of(user_agent: str) -> str:
    """"Firefox on Windows": what a person recognises of a User-Agent header (not a fingerprint)."""
    browser = next((name for name, pattern in _BROWSERS if re.search(pattern, user_agent or "")), "")
    system = next((name for name, pattern in _SYSTEMS if re.search(pattern, user_agent or "")), "")
    if browser and system:
        return f"{browser} · {system}"
    return browser or system or (user_agent or "")[:60]
