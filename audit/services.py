"""Every write of the audit app: ``record`` (the one way to add an event), signed checkpoints, retention,
per-tenant audit settings and SIEM sinks. Delivery to sinks is in ``streaming.py``."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from kit import egress
from kit.db import insert_row, select_one
from kit.errors import ApplicationError

from . import events, keys
from .actors import SYSTEM, Actor, describe_actor  # noqa: F401  (audit.services.Actor: a name other apps import)
from .context import get_request_context
from .hashing import GENESIS_HASH, canonical_json, checkpoint_payload, event_hash, purge_payload
from .models import (
    PLATFORM_CHAIN,
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    AuditPurge,
    AuditSink,
    AuditTenantSettings,
    IPTruncation,
    Severity,
    SinkState,
    chain_tenant_id,
)
from .selectors import verify_segment

logger = logging.getLogger(__name__)


class AuditError(ApplicationError):
    """A request to the audit app was refused; the message says what to do instead."""


class UnregisteredEventType(AuditError):
    pass


AUDIT_JOB = Actor("job", "audit", "audit")


def chain_of(tenant) -> str:
    return str(tenant.pk) if tenant is not None else PLATFORM_CHAIN


def _describe_target(target) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if isinstance(target, tuple):
        kind, ident, *label = target
        return kind, str(ident), (label[0] if label else "")
    meta = target._meta
    return f"{meta.app_label}.{meta.model_name}", str(target.pk), str(target)[:255]


# Keys whose values are credentials, and values shaped like JWTs: never stored, whoever passes them.
SECRET_KEYS = frozenset({
    "password", "secret", "client_secret", "token", "access_token", "refresh_token", "id_token",
    "code_verifier", "private_key", "assertion", "client_assertion", "registration_access_token",
    "initial_access_token",
})
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
REDACTED = "[redacted]"


def _scrub(value, key: str = ""):
    if key.lower() in SECRET_KEYS and value not in (None, "", [], {}):
        return REDACTED
    if isinstance(value, dict):
        return {k: _scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, str) and "eyJ" in value:
        return JWT_SHAPE.sub(REDACTED, value)
    return value


def truncate_ip(ip: str | None, mode: str) -> str | None:
    if not ip or mode == IPTruncation.NONE:
        return ip
    if mode == IPTruncation.DROP:
        return None
    address = ipaddress.ip_address(ip)
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def _event_type(action: str) -> events.EventType | None:
    kind = events.lookup(action)
    if kind is None:
        message = (f"audit action {action!r} is not registered: add "
                   f"`event({action!r}, \"<what happened>\", <severity>, \"<target type>\")` to audit/events.py")
        if getattr(settings, "AUDIT_STRICT", False):
            raise UnregisteredEventType(message)
        logger.warning("%s (recorded anyway)", message)
    return kind


def _locked_head(chain: str):
    return AuditChainHead.objects.select_for_update().filter(pk=chain).values_list(
        "last_seq", "last_hash", "ip_truncation")


def record(tenant, actor, action: str, target=None, request=None, *, severity: str | None = None, **data):
    """Append one event to the tenant's chain (the platform chain when tenant is None).

    Runs inside the caller's transaction, so an event exists exactly when the change it describes does.
    ``actor`` is a user, an OAuth client, an ``Actor``, or None for "whoever the request is"; ``target``
    is a model instance or a ``(type, id, label)`` tuple. ``severity`` defaults to the event type's.
    ``data`` must not hold secrets: credential-named keys and JWT-shaped strings are redacted anyway.
    ``client_id`` and ``resource`` in ``data`` are indexed for search.
    """
    kind = _event_type(action)
    severity = severity or (kind.severity if kind else Severity.INFO)
    ctx = get_request_context()
    if actor is None and request is not None:
        actor = getattr(request, "user", None)
    actor_type, actor_id, actor_label = describe_actor(actor)
    target_type, target_id, target_label = _describe_target(target)
    if request is not None:
        ip = request.META.get("REMOTE_ADDR") or None
        user_agent = request.META.get("HTTP_USER_AGENT", "")[:512]
        request_id = getattr(request, "request_id", "")
    elif ctx is not None:
        ip, user_agent, request_id = ctx.ip, ctx.user_agent, ctx.request_id
    else:
        ip, user_agent, request_id = None, "", ""
    chain = chain_of(tenant)
    # Normalise through JSON now so the stored value hashes the same after a database round trip.
    data = json.loads(canonical_json(_scrub(data)))
    client_id = str(data.get("client_id") or (actor_id if actor_type == "client" else ""))[:255]
    resource = str(data.get("resource") or "")[:500]

    # No savepoint of its own: an event that fails must take the caller's change down with it anyway,
    # and inside a caller's transaction a savepoint costs two more round trips per event.
    # The head lookup and the event's INSERT have their SQL compiled once and bound on the server
    # (kit/db.py): compiling them per event was a fifth of a code exchange's CPU (bench/README.md).
    with transaction.atomic(savepoint=False):
        head = select_one("audit-chain-head", _locked_head, (chain,))
        if head is None:  # the chain's first event
            row, _ = AuditChainHead.objects.select_for_update().get_or_create(
                chain=chain, defaults={"tenant": tenant, "last_seq": 0, "last_hash": GENESIS_HASH})
            head = (row.last_seq, row.last_hash, row.ip_truncation)
        last_seq, last_hash, ip_truncation = head
        ip = truncate_ip(ip, ip_truncation)
        event = AuditEvent(
            chain=chain, seq=last_seq + 1, tenant=tenant, occurred_at=timezone.now(), action=action,
            severity=severity, actor_type=actor_type, actor_id=actor_id, actor_label=actor_label[:255],
            target_type=target_type, target_id=target_id, target_label=target_label[:255],
            client_id=client_id, resource=resource, ip=ip, user_agent=user_agent, request_id=request_id,
            data=data, prev_hash=last_hash,
        )
        event.hash = event_hash(event)
        insert_row(event)  # a new row always: the append-only save() has nothing to refuse here
        AuditChainHead.objects.filter(pk=chain).update(last_seq=event.seq, last_hash=event.hash)
        if event.seq % settings.AUDIT_CHECKPOINT_EVERY == 0:
            _sign_checkpoint(chain, event.seq, event.hash)
    return event


# --- Checkpoints -----------------------------------------------------------------------------------

def _sign_checkpoint(chain: str, seq: int, event_hash_: str):
    """Signs (chain, seq, hash) after verifying the rows since the previous checkpoint: a checkpoint must
    never vouch for rows altered behind the application's back. Returns (checkpoint, None) or (None, break)."""
    found = verify_segment(chain, seq)
    if found is not None:
        logger.error("audit checkpoint refused: %s", found)
        return None, found
    created_at = timezone.now()
    kid, signature = keys.sign(checkpoint_payload(chain, seq, event_hash_, created_at))
    return AuditCheckpoint.objects.create(chain=chain, tenant_id=chain_tenant_id(chain), seq=seq,
                                          event_hash=event_hash_, created_at=created_at, kid=kid,
                                          signature=signature), None


@transaction.atomic
def checkpoint_chain(*, chain: str) -> AuditCheckpoint | None:
    """Sign the chain's current head unless a checkpoint already covers it (the hourly job). If the rows
    since the last checkpoint do not verify, nothing is signed and audit.verification_failed is recorded."""
    head = AuditChainHead.objects.select_for_update().filter(chain=chain).first()
    if head is None or head.last_seq == 0:
        return None
    latest = AuditCheckpoint.objects.filter(chain=chain).order_by("-seq").first()
    if latest is not None and latest.seq >= head.last_seq:
        return latest
    tenant_id = chain_tenant_id(chain)
    found = verify_segment(chain, head.last_seq)
    if found is not None:
        _record_in_chain(tenant_id, "audit.verification_failed", ("audit.chain", chain, "audit log"),
                         seq=found.seq, event_id=found.event_id, reason=found.reason)
        return None
    # Recording the checkpoint event moves the head; the checkpoint then covers that event too.
    event = _record_in_chain(tenant_id, "audit.checkpoint_signed", ("audit.chain", chain, "audit log"),
                             covers_seq=head.last_seq + 1)
    existing = AuditCheckpoint.objects.filter(chain=chain, seq=event.seq).first()
    return existing or _sign_checkpoint(chain, event.seq, event.hash)[0]


def _record_in_chain(tenant_id, action: str, target=None, **data) -> AuditEvent:
    """record() for jobs that know a chain by tenant id only (no tenant instance loaded)."""
    tenant = None
    if tenant_id is not None:
        tenant = AuditEvent._meta.get_field("tenant").related_model.objects.get(pk=tenant_id)
    return record(tenant, AUDIT_JOB, action, target, **data)


# --- Retention -------------------------------------------------------------------------------------
#
# Retention is the tenant owners' decision (the caller says whether the actor is an owner: audit imports
# no app that knows roles), never below the operator's AUDIT_RETENTION_MIN_DAYS, and a shorter retention
# waits AUDIT_RETENTION_CHANGE_DELAY_DAYS before a purge uses it. A purge leaves a signed AuditPurge
# record (count, first and last hash) that verify_audit requires for every dropped row.

def retention_floor_days() -> int:
    """The operator's floor, and always more than the change delay: when a shorter retention takes effect,
    the event that recorded the change is younger than any retention allowed, so it survives the purge."""
    return max(1, int(settings.AUDIT_RETENTION_MIN_DAYS), int(settings.AUDIT_RETENTION_CHANGE_DELAY_DAYS) + 1)


def _effective_retention(policy: AuditTenantSettings, tenant, now) -> int | None:
    """The retention a purge at ``now`` uses: a pending shorter retention once its delay has passed (the
    switch is audited), never below the operator's floor as it is today."""
    if policy.pending_retention_days and policy.pending_retention_from and now >= policy.pending_retention_from:
        previous = policy.retention_days
        policy.retention_days, policy.pending_retention_days, policy.pending_retention_from = (
            policy.pending_retention_days, None, None)
        policy.save(update_fields=["retention_days", "pending_retention_days", "pending_retention_from",
                                   "updated_at"])
        record(tenant, AUDIT_JOB, "audit.retention_applied",
               ("audit.audittenantsettings", tenant.pk, "audit settings"), retention_days=policy.retention_days,
               previous_retention_days=previous)
    if not policy.retention_days:
        return None
    return max(policy.retention_days, retention_floor_days())


@transaction.atomic
def events_purge(*, tenant, now=None) -> int:
    """Drop the tenant's events older than its retention period, up to the newest signed checkpoint
    among them, so that what remains verifies from that checkpoint; sign what was dropped. Returns the
    number of rows dropped."""
    now = now or timezone.now()
    policy = AuditTenantSettings.objects.select_for_update().filter(tenant_id=tenant.pk).first()
    if policy is None:
        return 0
    days = _effective_retention(policy, tenant, now)
    if not days:
        return 0
    chain = chain_of(tenant)
    cutoff = now - timedelta(days=days)
    AuditChainHead.objects.select_for_update().filter(chain=chain).first()  # no writer interleaves the purge
    newest_old = (AuditEvent.objects.filter(chain=chain, occurred_at__lt=cutoff)
                  .order_by("-seq").values_list("seq", flat=True).first())
    if newest_old is None:
        return 0
    anchor = AuditCheckpoint.objects.filter(chain=chain, seq__lte=newest_old).order_by("-seq").first()
    if anchor is None:
        return 0  # nothing is provable without a checkpoint; the hourly job will sign one
    old = AuditEvent.objects.filter(chain=chain, seq__lte=anchor.seq)
    bounds = list(old.order_by("seq").values_list("seq", "hash")[:1]) + list(
        old.order_by("-seq").values_list("seq", "hash")[:1])
    count = old.count()
    if not count:
        return 0
    (first_seq, first_hash), (last_seq, last_hash) = bounds[0], bounds[-1]
    purge = AuditPurge(chain=chain, tenant=tenant, first_seq=first_seq, last_seq=last_seq, count=count,
                       first_hash=first_hash, last_hash=last_hash, retention_days=days, created_at=timezone.now())
    purge.kid, purge.signature = keys.sign(purge_payload(purge))
    purge.save()
    # The retention path is the only one the append-only trigger lets through, for this transaction only.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL audit.allow_purge = 'on'")
    old._raw_delete(old.db)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL audit.allow_purge = 'off'")
    record(tenant, AUDIT_JOB, "audit.events_purged", anchor, through_seq=anchor.seq, dropped=count,
           retention_days=days, first_seq=first_seq, first_hash=first_hash, last_hash=last_hash,
           purge_id=purge.pk)
    return count


def _check_retention(days) -> None:
    floor = retention_floor_days()
    if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days < floor):
        raise AuditError(f"retention_days must be a whole number of days, at least {floor} (the platform's "
                         "AUDIT_RETENTION_MIN_DAYS), or empty to keep events forever", field="retention_days")


@transaction.atomic
def audit_settings_update(*, tenant, actor, request=None, actor_is_owner: bool = False,
                          **changes) -> AuditTenantSettings:
    """IP truncation: any caller the API lets write audit settings. Retention: owners only
    (``actor_is_owner``, decided by the caller from the actor's role), at least the operator's floor; a
    shorter retention becomes pending and applies AUDIT_RETENTION_CHANGE_DELAY_DAYS later, a longer one
    (or forever) at once and cancels any pending one."""
    allowed = {"retention_days", "ip_truncation"}
    unknown = set(changes) - allowed
    if unknown:
        raise AuditError(f"cannot change {', '.join(sorted(unknown))}; use {', '.join(sorted(allowed))}")
    if "ip_truncation" in changes and changes["ip_truncation"] not in IPTruncation.values:
        raise AuditError(f"ip_truncation must be one of {', '.join(IPTruncation.values)}", field="ip_truncation")
    policy, _ = AuditTenantSettings.objects.select_for_update().get_or_create(tenant_id=tenant.pk)
    changed = {}
    if "retention_days" in changes:
        days = changes["retention_days"]
        current_target = policy.pending_retention_days or policy.retention_days
        if days != current_target:
            if not actor_is_owner:
                raise AuditError("only an owner of the tenant can change how long its audit events are kept",
                                 field="retention_days")
            _check_retention(days)
            shorter = days is not None and (policy.retention_days is None or days < policy.retention_days)
            if shorter:
                start = timezone.now() + timedelta(days=max(0, int(settings.AUDIT_RETENTION_CHANGE_DELAY_DAYS)))
                policy.pending_retention_days, policy.pending_retention_from = days, start
                changed.update(retention_days=days, applies_from=start.isoformat(),
                               current_retention_days=policy.retention_days)
            else:
                policy.retention_days, policy.pending_retention_days, policy.pending_retention_from = days, None, None
                changed["retention_days"] = days
    if "ip_truncation" in changes and changes["ip_truncation"] != policy.ip_truncation:
        policy.ip_truncation = changed["ip_truncation"] = changes["ip_truncation"]
    if not changed:
        return policy
    policy.save()
    head, _ = AuditChainHead.objects.select_for_update().get_or_create(
        chain=chain_of(tenant), defaults={"tenant": tenant, "last_seq": 0, "last_hash": GENESIS_HASH})
    if head.ip_truncation != policy.ip_truncation:
        AuditChainHead.objects.filter(pk=head.pk).update(ip_truncation=policy.ip_truncation)
    record(tenant, actor, "audit.settings_changed", ("audit.audittenantsettings", tenant.pk, "audit settings"),
           request, **changed)
    return policy


# --- SIEM sinks ------------------------------------------------------------------------------------

def _sink_aad(sink_id) -> bytes:
    return b"audit-sink:" + str(sink_id).encode()


def sink_egress_policy():
    """The guard's policy for SIEM sinks: AUDIT_SINK_ALLOW_HTTP_LOOPBACK admits loopback (http included)
    on top of EGRESS_ALLOWED_NETWORKS; AUDIT_SINK_TIMEOUT_SECONDS is the deadline of one delivery."""
    return egress.policy(loopback=bool(settings.AUDIT_SINK_ALLOW_HTTP_LOOPBACK),
                         timeout=settings.AUDIT_SINK_TIMEOUT_SECONDS, max_bytes=64 * 1024)


def _check_sink_url(url: str) -> str:
    """At save time: https (http only to an allowed network) and a host that does not resolve into the
    platform's network. Delivery checks again on every connection (DNS may change in between)."""
    url = (url or "").strip()
    try:
        return egress.check_url(url, sink_egress_policy(), resolution_required=False)
    except egress.EgressError as exc:
        raise AuditError(f"sink URL {url[:200]!r} must be an https:// URL of your SIEM's webhook endpoint "
                         f"({exc})", field="url") from exc


@transaction.atomic
def sink_create(*, tenant, name: str, url: str, actor, request=None, from_start: bool = False):
    """Add a webhook sink; returns (sink, secret). The secret signs every delivery (HMAC-SHA256) and is
    shown once. A new sink starts at the current end of the log unless ``from_start``."""
    name = (name or "").strip()
    if not name:
        raise AuditError("give the sink a name", field="name")
    url = _check_sink_url(url)
    head = AuditChainHead.objects.filter(chain=chain_of(tenant)).values_list("last_seq", flat=True).first()
    secret = keys.new_secret()
    sink = AuditSink(tenant=tenant, name=name[:100], url=url, cursor_seq=0 if from_start else (head or 0))
    sink.sealed_secret = keys.seal(secret.encode(), aad=_sink_aad(sink.id))
    try:
        with transaction.atomic():
            sink.save()
    except IntegrityError as exc:
        raise AuditError(f"a sink named {name!r} already exists", field="name") from exc
    record(tenant, actor, "audit.sink_created", sink, request, url=url, from_seq=sink.cursor_seq + 1)
    return sink, secret


def sink_secret(sink: AuditSink) -> bytes:
    return keys.unseal(sink.sealed_secret, aad=_sink_aad(sink.id))


@transaction.atomic
def sink_set_state(*, sink: AuditSink, state: str, actor, request=None) -> AuditSink:
    """Pause a sink, or resume one (also out of dead letter): delivery continues after its cursor."""
    if state not in (SinkState.ACTIVE, SinkState.PAUSED):
        raise AuditError("a sink can be resumed (active) or paused", field="state")
    sink = AuditSink.objects.select_for_update().get(pk=sink.pk)
    previous = sink.state
    sink.state, sink.attempts, sink.next_attempt_at = state, 0, None
    if state == SinkState.ACTIVE:
        sink.last_error = ""
    sink.save(update_fields=["state", "attempts", "next_attempt_at", "last_error"])
    record(sink.tenant, actor, "audit.sink_updated", sink, request, state=state, previous_state=previous)
    return sink


@transaction.atomic
def sink_delete(*, sink: AuditSink, actor, request=None) -> None:
    record(sink.tenant, actor, "audit.sink_deleted", sink, request, url=sink.url, cursor_seq=sink.cursor_seq)
    AuditSink.objects.filter(pk=sink.pk).delete()


def export_recorded(*, tenant, actor, request=None, fmt: str, filters: dict, rows: int | None = None):
    """Exports are reads, but who took a copy of the log is itself an event."""
    return record(tenant, actor, "audit.exported", ("audit.chain", chain_of(tenant), "audit log"), request,
                  format=fmt, filters=filters, rows=rows)
