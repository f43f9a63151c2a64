"""Export of a filtered range of events as JSON Lines or CSV, streamed: rows are read in keyset-paginated
chunks (selectors.iter_events) and written as they come, so memory stays flat whatever the range."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from django.http import StreamingHttpResponse
from django.utils import timezone

from . import services
from .hashing import canonical_json
from .selectors import EXPORT_FIELDS, EventFilter, event_as_dict, iter_events, search_events

FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
CSV_COLUMNS = ("tenant_id", *EXPORT_FIELDS)


class _Line:
    """csv.writer target that hands back the line it was given."""

    def write(self, value):
        return value


def render(events: Iterable, fmt: str) -> Iterator[str]:
    if fmt == "jsonl":
        for event in events:
            yield json.dumps(event_as_dict(event), ensure_ascii=False, default=str) + "\n"
        return
    writer = csv.writer(_Line())
    yield writer.writerow(CSV_COLUMNS)
    for event in events:
        row = event_as_dict(event)
        row["data"] = canonical_json(row["data"])
        yield writer.writerow([row[c] if row[c] is not None else "" for c in CSV_COLUMNS])


def filename(tenant, fmt: str) -> str:
    return f"audit-{tenant.slug}-{timezone.now():%Y%m%dT%H%M%S}.{fmt}"


def export_response(*, tenant, actor, request, flt: EventFilter, fmt: str) -> StreamingHttpResponse:
    """A download of every event matching ``flt``; taking the copy is itself recorded first."""
    if fmt not in FORMATS:
        raise services.AuditError(f"format must be one of {', '.join(FORMATS)}", field="format")
    services.export_recorded(tenant=tenant, actor=actor, request=request, fmt=fmt, filters=flt.as_query())
    response = StreamingHttpResponse(render(iter_events(search_events(tenant, flt)), fmt), content_type=FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename(tenant, fmt)}"'
    response["Cache-Control"] = "no-store"
    return response


def write_export(*, tenant, flt: EventFilter, fmt: str, path: Path,
                 progress: Callable[[int], None] | None = None, every: int = 1000) -> int:
    """Writes the export to ``path`` (via a temporary name, so a half-written file is never served)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    rows = 0

    def counted():
        nonlocal rows
        for event in iter_events(search_events(tenant, flt)):
            rows += 1
            if progress and rows % every == 0:
                progress(rows)
            yield event

    with open(partial, "w", encoding="utf-8", newline="") as out:
        for chunk in render(counted(), fmt):
            out.write(chunk)
    partial.rename(path)
    if progress:
        progress(rows)
    return rows
