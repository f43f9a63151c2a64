"""Reads of the audit log: search, export iteration, and chain verification."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from . import keys
from .events import REGISTRY
from .hashing import GENESIS_HASH, checkpoint_payload, event_hash, purge_payload
from .models import PLATFORM_CHAIN, AuditChainHead, AuditCheckpoint, AuditEvent, AuditPurge, AuditSink, Severity


def events_for_tenant(tenant):
    return AuditEvent.objects.filter(tenant=tenant).order_by("-occurred_at", "-id")


# --- Search ----------------------------------------------------------------------------------------

class FilterError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class EventFilter:
    """The filters of the API, the console explorer and exports (query-string names = field names)."""

    since: datetime | None = None
    until: datetime | None = None
    actor: str = ""
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    severity: str = ""
    client: str = ""
    resource: str = ""
    ip: str = ""

    @classmethod
    def from_query(cls, params) -> EventFilter:
        """Parses a QueryDict/dict; raises FilterError naming the field and the expected form."""
        values = {}
        for f in fields(cls):
            raw = (params.get(f.name) or "").strip()
            if not raw:
                continue
            if f.name in ("since", "until"):
                values[f.name] = parse_time(f.name, raw)
            elif f.name == "severity":
                if raw not in Severity.values:
                    raise FilterError("severity", f"severity must be one of {', '.join(Severity.values)}")
                values[f.name] = raw
            elif f.name == "ip":
                try:
                    values[f.name] = str(ipaddress.ip_address(raw))
                except ValueError as exc:
                    raise FilterError("ip", f"{raw!r} is not an IP address") from exc
            else:
                values[f.name] = raw[:500]
        return cls(**values)

    def as_query(self) -> dict:
        """The non-empty filters as strings, for links, export parameters and job params."""
        out = {}
        for name, value in asdict(self).items():
            if value:
                out[name] = value.isoformat() if isinstance(value, datetime) else value
        return out


def parse_time(name: str, raw: str) -> datetime:
    value = parse_datetime(raw)
    if value is None:
        day = parse_date(raw)
        if day is not None:
            value = datetime(day.year, day.month, day.day)
    if value is None:
        raise FilterError(name, f"{name} must be an ISO 8601 date or date-time, e.g. 2026-01-31T12:00:00Z")
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)  # no zone given: UTC, as the API documents
    return value


def _action_lookup(action: str) -> dict:
    """"client." selects a family, a full name one action. A family becomes the registered names it
    covers, so the (tenant, action, occurred_at) index and the planner's per-action statistics serve it;
    LIKE 'client.%' can use neither under a non-C collation."""
    if not action.endswith("."):
        return {"action": action}
    names = sorted(name for name in REGISTRY if name.startswith(action))
    return {"action__in": names} if names else {"action__startswith": action}


def search_events(tenant, flt: EventFilter):
    """One tenant's events matching ``flt``, newest first. Each filter is served by an index that starts
    with (tenant, <filter column>) and ends with occurred_at (see AuditEvent.Meta.indexes)."""
    qs = AuditEvent.objects.filter(tenant=tenant)
    if flt.since:
        qs = qs.filter(occurred_at__gte=flt.since)
    if flt.until:
        qs = qs.filter(occurred_at__lt=flt.until)
    if flt.action:
        qs = qs.filter(**_action_lookup(flt.action))
    if flt.actor:
        # People are searched by e-mail (their label), clients and jobs by id.
        qs = qs.filter(actor_label=flt.actor) if "@" in flt.actor else qs.filter(actor_id=flt.actor)
    if flt.target_type:
        qs = qs.filter(target_type=flt.target_type)
    if flt.target_id:
        qs = qs.filter(target_id=flt.target_id)
    if flt.severity:
        qs = qs.filter(severity=flt.severity)
    if flt.client:
        qs = qs.filter(client_id=flt.client)
    if flt.resource:
        qs = qs.filter(resource=flt.resource)
    if flt.ip:
        qs = qs.filter(ip=flt.ip)
    return qs.order_by("-occurred_at", "-id")


def event_of_tenant(tenant, event_id) -> AuditEvent | None:
    try:
        return AuditEvent.objects.filter(tenant=tenant, pk=int(event_id)).first()
    except (TypeError, ValueError):
        return None


def event_exists_in_another_tenant(tenant, event_id) -> bool:
    try:
        return AuditEvent.objects.filter(pk=int(event_id)).exclude(tenant=tenant).exists()
    except (TypeError, ValueError):
        return False


def iter_events(queryset, *, chunk: int = 2000) -> Iterator[AuditEvent]:
    """Walks a newest-first queryset in keyset-paginated chunks: constant memory, one short query each,
    and no server-side cursor held open across a slow download."""
    last = None
    while True:
        page = queryset
        if last is not None:
            page = page.filter(occurred_at__lte=last.occurred_at).exclude(occurred_at=last.occurred_at,
                                                                          id__gte=last.id)
        rows = list(page[:chunk])
        yield from rows
        if len(rows) < chunk:
            return
        last = rows[-1]


EXPORT_FIELDS = ("id", "chain", "seq", "occurred_at", "action", "severity", "actor_type", "actor_id", "actor_label",
                 "target_type", "target_id", "target_label", "client_id", "resource", "ip", "user_agent",
                 "request_id", "data", "prev_hash", "hash")


def event_as_dict(event: AuditEvent) -> dict:
    row = {name: getattr(event, name) for name in EXPORT_FIELDS}
    row["occurred_at"] = event.occurred_at.isoformat(timespec="microseconds")
    row["tenant_id"] = str(event.tenant_id) if event.tenant_id else None
    return row


def sinks_of(tenant):
    return AuditSink.objects.filter(tenant=tenant).order_by("name")


def sink_of_tenant(tenant, sink_id) -> AuditSink | None:
    return AuditSink.objects.filter(tenant=tenant, pk=sink_id).first() if sink_id else None


# --- Verification ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChainBreak:
    chain: str
    seq: int
    event_id: int | None
    reason: str

    def __str__(self):
        row = f"row id={self.event_id}" if self.event_id is not None else "no row"
        return f"chain {self.chain}: broken at seq {self.seq} ({row}): {self.reason}"


@dataclass(frozen=True)
class ChainReport:
    chain: str
    events: int
    first_break: ChainBreak | None
    from_seq: int = 1
    checkpoints: int = 0

    @property
    def ok(self) -> bool:
        return self.first_break is None

    def as_dict(self) -> dict:
        brk = self.first_break
        return {"chain": self.chain, "ok": self.ok, "events": self.events, "from_seq": self.from_seq,
                "checkpoints_verified": self.checkpoints,
                "first_break": None if brk is None else {"seq": brk.seq, "event_id": brk.event_id,
                                                         "reason": brk.reason}}


def chain_names(tenant=None) -> list[str]:
    if tenant is not None:
        return [str(tenant.pk)]
    names = set(AuditChainHead.objects.values_list("chain", flat=True))
    names |= set(AuditEvent.objects.values_list("chain", flat=True).distinct())
    return sorted(names, key=lambda c: (c != PLATFORM_CHAIN, c))


def _checkpoint_valid(cp: AuditCheckpoint) -> bool:
    return keys.verify(cp.kid, checkpoint_payload(cp.chain, cp.seq, cp.event_hash, cp.created_at), cp.signature)


def _purges_cover(chain: str, through_seq: int, anchor_hash: str | None) -> ChainBreak | None:
    """Rows 1..through_seq are gone: signed purge records must cover exactly that range, one after the
    other, each with a valid signature and a consistent count, the last one ending at the row the anchor
    checkpoint vouches for. None when they do; otherwise the break to report."""
    expected = 1
    last = None
    for purge in AuditPurge.objects.filter(chain=chain).order_by("first_seq"):
        if not keys.verify(purge.kid, purge_payload(purge), purge.signature):
            return ChainBreak(chain, purge.first_seq, None, f"purge record of rows {purge.first_seq}.."
                              f"{purge.last_seq} has an invalid signature (forged)")
        if purge.first_seq != expected or purge.count != purge.last_seq - purge.first_seq + 1:
            return ChainBreak(chain, expected, None, f"purge records do not cover rows from seq {expected} "
                              "contiguously (forged or missing purge record)")
        expected, last = purge.last_seq + 1, purge
    if last is None or last.last_seq != through_seq:
        return ChainBreak(chain, expected, None, f"rows {expected}..{through_seq} were removed without a signed "
                          "purge record (deleted)")
    if anchor_hash is not None and last.last_hash != anchor_hash:
        return ChainBreak(chain, through_seq, None, "the last purge record's hash differs from the signed checkpoint "
                          "(forged purge record)")
    return None


class _Walk:
    """Walks one chain's rows in order, checking position, link, content and signed checkpoints."""

    def __init__(self, chain: str, checkpoints: dict[int, AuditCheckpoint], start_seq: int, start_hash: str):
        self.chain, self.checkpoints = chain, checkpoints
        self.expected_seq, self.prev_hash = start_seq, start_hash
        self.count, self.verified_checkpoints, self.purged_through = 0, 0, 0

    def run(self, rows: Iterator[AuditEvent]) -> ChainBreak | None:
        for event in rows:
            self.count += 1
            if event.seq != self.expected_seq:
                what = "missing or reordered rows" if event.seq > self.expected_seq else "duplicate position"
                return self._break(self.expected_seq, event.pk, f"expected seq {self.expected_seq}, found "
                                                                f"{event.seq}: {what}")
            if event.prev_hash != self.prev_hash:
                return self._break(event.seq, event.pk, "prev_hash does not match the preceding row's hash")
            if event_hash(event) != event.hash:
                return self._break(event.seq, event.pk, "row content does not match its hash (altered)")
            cp = self.checkpoints.get(event.seq)
            if cp is not None:
                if cp.event_hash != event.hash:
                    return self._break(event.seq, event.pk, "row hash differs from the signed checkpoint "
                                                            "(history rewritten)")
                self.verified_checkpoints += 1
            if event.action == "audit.events_purged":
                self.purged_through = max(self.purged_through, int(event.data.get("through_seq") or 0))
            self.prev_hash = event.hash
            self.expected_seq += 1
        return None

    def _break(self, seq, event_id, reason) -> ChainBreak:
        return ChainBreak(self.chain, seq, event_id, reason)


def verify_segment(chain: str, upto_seq: int) -> ChainBreak | None:
    """Verifies the rows after the chain's newest checkpoint below ``upto_seq``, through ``upto_seq``: what a
    new checkpoint at ``upto_seq`` would vouch for. Cost: the rows since the last checkpoint."""
    after = AuditCheckpoint.objects.filter(chain=chain, seq__lt=upto_seq).order_by("-seq").first()
    if after is not None and not _checkpoint_valid(after):
        return ChainBreak(chain, after.seq, None, f"checkpoint at seq {after.seq} has an invalid signature (forged)")
    start_seq, start_hash = (after.seq + 1, after.event_hash) if after else (1, GENESIS_HASH)
    walk = _Walk(chain, {}, start_seq, start_hash)
    rows = AuditEvent.objects.filter(chain=chain, seq__gte=start_seq, seq__lte=upto_seq).order_by("seq", "id")
    found = walk.run(rows.iterator(chunk_size=2000))
    if found is None and walk.expected_seq - 1 != upto_seq:
        found = ChainBreak(chain, walk.expected_seq, None, f"rows up to seq {upto_seq} are missing")
    return found


def verify_chain(chain: str, since: datetime | None = None) -> ChainReport:
    """Verifies from the first kept row (or, with ``since``, from the newest checkpoint signed before it).

    Rows dropped by retention are accepted only up to a signed checkpoint that a later
    ``audit.events_purged`` event of the same chain names; anything else missing is a break."""
    checkpoints = {cp.seq: cp for cp in AuditCheckpoint.objects.filter(chain=chain)}
    for cp in sorted(checkpoints.values(), key=lambda c: c.seq):
        if not _checkpoint_valid(cp):
            return ChainReport(chain, 0, ChainBreak(chain, cp.seq, None,
                                                    f"checkpoint at seq {cp.seq} has an invalid signature (forged)"))
    rows = AuditEvent.objects.filter(chain=chain)
    start = None
    if since is not None:
        start = (AuditCheckpoint.objects.filter(chain=chain, created_at__lte=since).order_by("-seq").first())
    first_seq = rows.order_by("seq").values_list("seq", flat=True).first()
    if start is None and first_seq and first_seq > 1:
        start = checkpoints.get(first_seq - 1)
        if start is None:
            return ChainReport(chain, 0, ChainBreak(chain, 1, None, f"rows 1..{first_seq - 1} are missing and no "
                                                                   "signed checkpoint covers them (deleted)"))
    start_seq, start_hash = (start.seq + 1, start.event_hash) if start else (1, GENESIS_HASH)
    walk = _Walk(chain, checkpoints, start_seq, start_hash)
    ordered = rows.filter(seq__gte=start_seq).order_by("seq", "id").iterator(chunk_size=2000)
    first_break = walk.run(ordered)
    if first_break is None and since is None and first_seq and first_seq > 1 and walk.purged_through != first_seq - 1:
        first_break = ChainBreak(chain, first_seq - 1, None, f"rows up to seq {first_seq - 1} were removed without "
                                                             "a recorded retention purge (deleted)")
    if first_break is None and first_seq and first_seq > 1:
        anchor = checkpoints.get(first_seq - 1)
        first_break = _purges_cover(chain, first_seq - 1, anchor.event_hash if anchor else None)
    if first_break is None:
        head = AuditChainHead.objects.filter(chain=chain).first()
        last_seq = walk.expected_seq - 1
        if head is None and walk.count:
            first_break = ChainBreak(chain, last_seq, None, "chain head is missing")
        elif head is not None and (head.last_seq != last_seq or head.last_hash != walk.prev_hash):
            first_break = ChainBreak(chain, last_seq + 1, None, f"chain head says {head.last_seq} events, the "
                                                                f"rows end at {last_seq}: newest rows removed")
    return ChainReport(chain, walk.count, first_break, start_seq, walk.verified_checkpoints)


def verify_audit(tenant=None, since: datetime | None = None) -> list[ChainReport]:
    return [verify_chain(chain, since) for chain in chain_names(tenant)]
