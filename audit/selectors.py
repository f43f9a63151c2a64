"""Reads of the audit log, and the chain verification."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .hashing import GENESIS_HASH, event_hash
from .models import PLATFORM_CHAIN, AuditChainHead, AuditEvent


def events_for_tenant(tenant):
    return AuditEvent.objects.filter(tenant=tenant).order_by("-seq")


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

    @property
    def ok(self) -> bool:
        return self.first_break is None


def chain_names(tenant=None) -> list[str]:
    if tenant is not None:
        return [str(tenant.pk)]
    names = set(AuditChainHead.objects.values_list("chain", flat=True))
    names |= set(AuditEvent.objects.values_list("chain", flat=True).distinct())
    return sorted(names, key=lambda c: (c != PLATFORM_CHAIN, c))


def _verify_rows(chain: str, rows: Iterator[AuditEvent]) -> tuple[int, str, ChainBreak | None]:
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    for event in rows:
        count += 1
        if event.seq != expected_seq:
            missing = "missing or reordered rows" if event.seq > expected_seq else "duplicate position"
            return count, prev_hash, ChainBreak(chain, expected_seq, event.pk, f"expected seq {expected_seq}, "
                                                f"found {event.seq}: {missing}")
        if event.prev_hash != prev_hash:
            return count, prev_hash, ChainBreak(chain, event.seq, event.pk,
                                                "prev_hash does not match the preceding row's hash")
        if event_hash(event) != event.hash:
            return count, prev_hash, ChainBreak(chain, event.seq, event.pk,
                                                "row content does not match its hash (altered)")
        prev_hash = event.hash
        expected_seq += 1
    return count, prev_hash, None


def verify_chain(chain: str) -> ChainReport:
    rows = AuditEvent.objects.filter(chain=chain).order_by("seq", "id").iterator(chunk_size=2000)
    count, last_hash, first_break = _verify_rows(chain, rows)
    if first_break is None:
        head = AuditChainHead.objects.filter(chain=chain).first()
        if head is None and count:
            first_break = ChainBreak(chain, count, None, "chain head is missing")
        elif head is not None and (head.last_seq != count or head.last_hash != last_hash):
            first_break = ChainBreak(chain, count + 1, None,
                                     f"chain head says {head.last_seq} events, {count} found: newest rows removed")
    return ChainReport(chain, count, first_break)


def verify_audit(tenant=None) -> list[ChainReport]:
    return [verify_chain(chain) for chain in chain_names(tenant)]
