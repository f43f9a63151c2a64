"""Audit summaries of machine tokens: one ``tokens.issued`` event per client, resource, scope and minute
instead of one event per client_credentials token.

Why: a hash-chained audit row per token was a third of a token request's CPU, and every issuance of a
tenant serialised on its chain head (bench/README.md). A machine that asks for thousands of tokens a
minute makes one summary line a minute that says the same.

Nothing is counted in memory. The summary is derived from the access-token rows themselves, which are
written in the same statement that issues the token, so a crash, a restart or a Redis outage loses no
issuance. A cursor row says up to when issuance has been summarised; it advances in the same
transaction as the events it vouches for, so every minute is summarised exactly once, however often the
job runs or retries. The purge of expired tokens spares rows the cursor has not passed yet.

Code replay, refresh-token reuse, revocations and tokens issued to people (authorization_code and
refresh_token grants) stay one event per occurrence. Refused requests (failed client authentication,
bad codes, probes) are audited per source and minute by audit/failures.py, the same idea for failures.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Count, Max, Min
from django.db.models.functions import TruncMinute
from django.utils import timezone

import audit

from ..models import AccessToken, Application, TokenSummaryCursor

SUMMARISED_GRANTS = ("client_credentials",)
# A token row whose INSERT is still in flight when its minute closes must not be skipped: a minute is
# summarised only once this much time has passed after it. One INSERT in autocommit takes milliseconds.
SETTLE = timedelta(seconds=15)
# After an outage the job catches up at most this much per run (the next runs take the rest).
MAX_SPAN = timedelta(hours=6)
CURSOR = "machine-tokens"


def is_summarised(grant_type: str) -> bool:
    return grant_type in SUMMARISED_GRANTS


def _minute(moment):
    return moment.replace(second=0, microsecond=0)


def summarised_until():
    """Issuance before this moment is in the audit log; rows after it must not be purged yet."""
    cursor = TokenSummaryCursor.objects.filter(pk=CURSOR).values_list("summarised_until", flat=True).first()
    return cursor


def _first_unsummarised():
    """Where the very first run starts: the oldest machine token still stored."""
    first = (AccessToken.objects.unscoped().filter(grant_type__in=SUMMARISED_GRANTS)
             .aggregate(first=Min("created"))["first"])
    return _minute(first) if first else None


def summarise_machine_tokens(*, now=None) -> int:
    """Writes the summary events of every closed minute not yet summarised; returns how many."""
    now = now or timezone.now()
    end = _minute(now - SETTLE)
    with transaction.atomic():
        cursor, _ = TokenSummaryCursor.objects.select_for_update().get_or_create(
            pk=CURSOR, defaults={"summarised_until": _first_unsummarised() or end})
        start = cursor.summarised_until
        if end <= start:
            return 0
        end = min(end, start + MAX_SPAN)
        groups = list(
            AccessToken.objects.unscoped()
            .filter(grant_type__in=SUMMARISED_GRANTS, created__gte=start, created__lt=end)
            .annotate(minute=TruncMinute("created"))
            .values("tenant_id", "application_id", "audience", "scope", "grant_type", "minute")
            .annotate(count=Count("id"), first=Min("created"), last=Max("created"))
            .order_by("minute", "tenant_id", "application_id", "audience", "scope"))
        clients = {c.pk: c for c in Application.objects.unscoped().select_related("tenant").filter(
            pk__in={g["application_id"] for g in groups})}
        for group in groups:
            client = clients.get(group["application_id"])
            if client is None:
                continue  # deleted since, and its tokens with it (rows CASCADE): nothing to attribute
            window = group["minute"]
            audit.record(client.tenant, client, "tokens.issued", client, client_id=client.public_client_id,
                         resource=group["audience"], grant_type=group["grant_type"], scope=group["scope"],
                         count=group["count"], window_start=window.isoformat(),
                         window_end=(window + timedelta(minutes=1)).isoformat(),
                         first_issued_at=group["first"].isoformat(), last_issued_at=group["last"].isoformat())
        cursor.summarised_until = end
        cursor.save(update_fields=["summarised_until"])
    return len(groups)
