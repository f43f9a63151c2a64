"""audit.record: the one way to write an audit event."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from .context import get_request_context
from .hashing import GENESIS_HASH, canonical_json, event_hash
from .models import PLATFORM_CHAIN, AuditChainHead, AuditEvent, Severity


@dataclass(frozen=True)
class Actor:
    """An actor that is not a model instance: the system, a job, an anonymous caller."""

    type: str
    id: str = ""
    label: str = ""


SYSTEM = Actor("system", "", "system")


def _describe_actor(actor) -> tuple[str, str, str]:
    if isinstance(actor, Actor):
        return actor.type, actor.id, actor.label
    if actor is None or getattr(actor, "is_anonymous", False):
        return "anonymous", "", ""
    if hasattr(actor, "client_id") and hasattr(actor, "tenant_id"):  # an OAuth client
        return "client", str(actor.client_id), getattr(actor, "name", "") or str(actor.client_id)
    if hasattr(actor, "get_username"):
        return "user", str(actor.pk), actor.get_username()
    return actor.__class__.__name__.lower(), str(getattr(actor, "pk", "")), str(actor)[:255]


def _describe_target(target) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if isinstance(target, tuple):
        kind, ident, *label = target
        return kind, str(ident), (label[0] if label else "")
    meta = target._meta
    return f"{meta.app_label}.{meta.model_name}", str(target.pk), str(target)[:255]


def record(tenant, actor, action: str, target=None, request=None, *, severity: str = Severity.INFO, **data):
    """Append one event to the tenant's chain (the platform chain when tenant is None).

    Runs inside the caller's transaction, so an event exists exactly when the change it describes does.
    ``actor`` is a user, an OAuth client, an ``Actor``, or None for "whoever the request is"; ``target``
    is a model instance or a ``(type, id, label)`` tuple. ``data`` must not hold secrets or raw tokens.
    """
    ctx = get_request_context()
    if actor is None and request is not None:
        actor = getattr(request, "user", None)
    actor_type, actor_id, actor_label = _describe_actor(actor)
    target_type, target_id, target_label = _describe_target(target)
    if request is not None:
        ip = request.META.get("REMOTE_ADDR") or None
        user_agent = request.META.get("HTTP_USER_AGENT", "")[:512]
        request_id = getattr(request, "request_id", "")
    elif ctx is not None:
        ip, user_agent, request_id = ctx.ip, ctx.user_agent, ctx.request_id
    else:
        ip, user_agent, request_id = None, "", ""
    chain = str(tenant.pk) if tenant is not None else PLATFORM_CHAIN
    # Normalise through JSON now so the stored value hashes the same after a database round trip.
    data = json.loads(canonical_json(data))

    with transaction.atomic():
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(
            chain=chain, defaults={"last_seq": 0, "last_hash": GENESIS_HASH}
        )
        event = AuditEvent(
            chain=chain,
            seq=head.last_seq + 1,
            tenant=tenant,
            occurred_at=timezone.now(),
            action=action,
            severity=severity,
            actor_type=actor_type,
            actor_id=actor_id,
            actor_label=actor_label[:255],
            target_type=target_type,
            target_id=target_id,
            target_label=target_label[:255],
            ip=ip,
            user_agent=user_agent,
            request_id=request_id,
            data=data,
            prev_hash=head.last_hash,
        )
        event.hash = event_hash(event)
        event.save()
        AuditChainHead.objects.filter(pk=chain).update(last_seq=event.seq, last_hash=event.hash)
    return event
