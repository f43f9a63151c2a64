"""Refused requests (wrong client secrets, bad codes and refresh tokens, bad redirect URIs, refused CIMD
documents, denied API calls, probes of other tenants' ids) are audited, aggregated per chain, kind,
source and minute, with a cap, so nobody can flood a tenant's chain by failing on purpose.

The first refusal of a (chain, action, source, minute) is an audit event at once, with its details. Every
further one only increments the window's counter (one UPDATE, no chain lock); when the minute has closed,
``summarise_failures`` writes one ``security.failures_summarised`` event per window that saw more than
one. At most AUDIT_FAILURE_SOURCES_PER_MINUTE sources of one chain get windows of their own in a minute;
the rest share the window of source OVERFLOW, whose first refusal is also recorded. A chain thus grows by
at most about twice (cap + 1) events per action and minute, whatever the request rate.

The same pattern as machine tokens (oauth/grants/summaries.py): counts live in the database, not in a process,
so every web process adds to the same windows and a restart loses nothing.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import AuditEvent, FailureWindow
from .services import Actor, chain_of, record

OVERFLOW = "(other sources)"
SETTLE = timedelta(seconds=15)
KEEP = timedelta(days=1)


def _minute(moment):
    return moment.replace(second=0, microsecond=0)


def _cap() -> int:
    return max(1, int(getattr(settings, "AUDIT_FAILURE_SOURCES_PER_MINUTE", 20)))


def _bump(chain: str, action: str, source: str, minute, now) -> bool:
    return bool(FailureWindow.objects.filter(chain=chain, action=action, source=source, minute=minute)
                .update(count=F("count") + 1, last_at=now))


# What a caller typed may hold a NUL or a lone surrogate, which no database column stores.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(value):
    return _UNSTORABLE.sub("\ufffd", value) if isinstance(value, str) else value


def failure(tenant, action: str, *, source: str, actor=None, target=None, request=None, **data):
    """Audits one refused request. ``source`` is who failed (an address, a claimed client id); ``data``
    the details the first event of the window keeps (no secrets: record() redacts them anyway).
    Returns the event when this refusal was recorded on its own, None when it was only counted."""
    now = timezone.now()
    minute, chain = _minute(now), chain_of(tenant)
    source = _storable((source or "unknown")[:255])
    data = {key: _storable(value) for key, value in data.items()}
    if isinstance(target, tuple):
        target = tuple(_storable(part) for part in target)
    if _bump(chain, action, source, minute, now):
        return None
    if FailureWindow.objects.filter(chain=chain, minute=minute).count() >= _cap():
        source = OVERFLOW
        if _bump(chain, action, source, minute, now):
            return None
    try:
        with transaction.atomic():
            FailureWindow.objects.create(chain=chain, tenant=tenant, action=action, source=source, minute=minute,
                                         first_at=now, last_at=now)
    except IntegrityError:  # another process opened the window first
        _bump(chain, action, source, minute, now)
        return None
    if actor is None:
        actor = Actor("anonymous", "", source if source != OVERFLOW else "")
    return record(tenant, actor, action, target, request, source=source, aggregated="first of its minute", **data)


def summarise_failures(*, now=None) -> int:
    """One ``security.failures_summarised`` event per closed window that counted more than its first
    refusal; exactly once per window (marked in the same transaction). Drops windows older than a day."""
    now = now or timezone.now()
    due = _minute(now - SETTLE)
    written = 0
    with transaction.atomic():
        windows = list(FailureWindow.objects.select_for_update(skip_locked=True, of=("self",))
                       .filter(summarised=False, minute__lt=due).select_related("tenant")
                       .order_by("minute", "chain", "action", "source")[:5000])
        for window in windows:
            if window.count > 1:
                record(window.tenant, Actor("job", "audit", "audit"), "security.failures_summarised",
                       ("audit.failurewindow", "", window.action), summarised_action=window.action,
                       source=window.source, count=window.count, window_start=window.minute.isoformat(),
                       window_end=(window.minute + timedelta(minutes=1)).isoformat(),
                       first_at=window.first_at.isoformat(), last_at=window.last_at.isoformat())
                written += 1
        FailureWindow.objects.filter(pk__in=[w.pk for w in windows]).update(summarised=True)
    FailureWindow.objects.filter(summarised=True, minute__lt=now - KEEP).delete()
    return written


def cross_tenant_attempt_record(*, tenant, actor, object_type: str, object_id, request=None) -> AuditEvent:
    """A caller of ``tenant`` asked for an object id that belongs to another tenant: a security event in the
    caller's chain (the other tenant's id is not echoed into it, only that one was tried)."""
    source = (request.META.get("REMOTE_ADDR") if request is not None else "") or "unknown"
    return failure(tenant, "security.cross_tenant_attempt", source=source, actor=actor,
                   target=(object_type, "", "object of another tenant"), request=request, object_type=object_type)
