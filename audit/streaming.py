"""Delivery of audit events to SIEM webhooks: at least once, in chain order, per sink.

One delivery = one POST of ``{"events": [...]}`` (a batch in seq order) signed with
``X-Audit-Signature: sha256=<hex HMAC-SHA256 of the body>`` under the sink's secret. The sink row is
locked (SELECT ... FOR UPDATE SKIP LOCKED) for the batch, so one worker at a time delivers a sink and
batches go out in order. The cursor moves only after the receiver answers 2xx, in the same transaction
that holds the lock: a worker killed mid-delivery leaves the cursor where it was (its connection drops,
the lock goes with it) and the next run sends the same events again, with the same ids. Receivers
deduplicate by ``id`` (or by ``chain`` + ``seq``).

Failures (timeouts, connection errors, non-2xx) back off exponentially; after AUDIT_SINK_MAX_ATTEMPTS
consecutive failures the sink is dead-lettered (visible in the console, recorded as a warning event) and
waits for an admin to resume it; its cursor keeps every undelivered event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import timedelta
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from kit import egress

from . import services
from .models import AuditChainHead, AuditEvent, AuditSink, SinkState
from .selectors import event_as_dict

logger = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Audit-Signature"


class Outcome(StrEnum):
    DELIVERED = "delivered"
    NOTHING = "nothing to send"
    BUSY = "another worker is delivering this sink"
    WAITING = "waiting for the next retry"
    STOPPED = "paused or dead-lettered"
    FAILED = "failed; will retry"
    DEAD_LETTERED = "dead-lettered"


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def backoff(attempts: int) -> timedelta:
    base = settings.AUDIT_SINK_BACKOFF_SECONDS
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 900))


def _post(sink: AuditSink, body: bytes) -> str | None:
    """None when the receiver took the batch, else what went wrong: through the egress guard, whose
    errors read alike for every internal service (``last_error`` is shown to tenant admins)."""
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature(services.sink_secret(sink), body),
               "User-Agent": "mcp-platform-audit/1"}
    try:
        response = egress.fetch("POST", sink.url, services.sink_egress_policy(), content=body, headers=headers)
    except egress.EgressError as exc:
        return str(exc)[:500]
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code} from the receiver"


def deliver_batch(sink_id, *, now=None) -> Outcome:
    """Sends the next batch after the sink's cursor; see the module docstring for the guarantees."""
    now = now or timezone.now()
    with transaction.atomic():
        sink = AuditSink.objects.select_for_update(skip_locked=True).filter(pk=sink_id).first()
        if sink is None:
            return Outcome.BUSY if AuditSink.objects.filter(pk=sink_id).exists() else Outcome.STOPPED
        if sink.state in (SinkState.PAUSED, SinkState.DEAD_LETTER):
            return Outcome.STOPPED
        if sink.next_attempt_at and sink.next_attempt_at > now:
            return Outcome.WAITING
        batch = list(AuditEvent.objects.filter(chain=str(sink.tenant_id), seq__gt=sink.cursor_seq)
                     .order_by("seq")[:settings.AUDIT_SINK_BATCH])
        if not batch:
            return Outcome.NOTHING
        body = json.dumps({"sink": sink.name, "events": [event_as_dict(e) for e in batch]}, default=str,
                          separators=(",", ":")).encode()
        error = _post(sink, body)
        if error is None:
            sink.cursor_seq, sink.attempts, sink.next_attempt_at = batch[-1].seq, 0, None
            sink.state, sink.last_error, sink.last_delivered_at = SinkState.ACTIVE, "", timezone.now()
            sink.save(update_fields=["cursor_seq", "attempts", "next_attempt_at", "state", "last_error",
                                     "last_delivered_at"])
            return Outcome.DELIVERED
        sink.attempts += 1
        sink.last_error = error
        logger.warning("audit sink %s (%s) failed attempt %s: %s", sink.pk, sink.url, sink.attempts, error)
        if sink.attempts >= settings.AUDIT_SINK_MAX_ATTEMPTS:
            sink.state, sink.next_attempt_at = SinkState.DEAD_LETTER, None
            sink.save(update_fields=["attempts", "last_error", "state", "next_attempt_at"])
            services.record(sink.tenant, services.AUDIT_JOB, "audit.sink_dead_lettered", sink, attempts=sink.attempts,
                            error=error, undelivered_from_seq=sink.cursor_seq + 1)
            return Outcome.DEAD_LETTERED
        sink.state, sink.next_attempt_at = SinkState.RETRYING, now + backoff(sink.attempts)
        sink.save(update_fields=["attempts", "last_error", "state", "next_attempt_at"])
        return Outcome.FAILED


def deliver(sink_id, *, max_batches: int = 50, now=None) -> Outcome:
    """Drains a sink batch by batch (each batch its own transaction), bounded per run."""
    delivered = False
    for _ in range(max_batches):
        outcome = deliver_batch(sink_id, now=now)
        if outcome is not Outcome.DELIVERED:
            return Outcome.DELIVERED if delivered and outcome is Outcome.NOTHING else outcome
        delivered = True
    return Outcome.DELIVERED


def due_sinks(now=None) -> list:
    """Ids of sinks with undelivered events whose next attempt is due (what the beat job enqueues)."""
    now = now or timezone.now()
    sinks = list(AuditSink.objects.filter(state__in=[SinkState.ACTIVE, SinkState.RETRYING]).only(
        "id", "tenant_id", "cursor_seq", "next_attempt_at"))
    if not sinks:
        return []
    heads = dict(AuditChainHead.objects.filter(chain__in={str(s.tenant_id) for s in sinks})
                 .values_list("chain", "last_seq"))
    due = []
    for sink in sinks:
        if sink.next_attempt_at and sink.next_attempt_at > now:
            continue
        if heads.get(str(sink.tenant_id), 0) > sink.cursor_seq:
            due.append(sink.pk)
    return due
