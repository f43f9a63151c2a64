"""Export: JSON Lines and CSV stream a filtered range; large ranges run as a job with progress and a
download that only the tenant's console can fetch."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.http import StreamingHttpResponse

from audit.models import AuditEvent
from audit.tasks import export_path, run_export
from jobs.models import JobRun

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]  # also on SQLite (test.sh)


def test_jsonl_download_streams_the_filtered_range(varied_log, signed_in):
    a, _ = varied_log
    response = signed_in(a.auditor).get(f"/console/{a.slug}/audit/export.jsonl", {"client": "a-client-1"})
    assert isinstance(response, StreamingHttpResponse) and response["Content-Type"] == "application/x-ndjson"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-alpha-')
    rows = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert [r["action"] for r in rows] == ["token.issued", "client.created"]
    assert all(r["tenant_id"] == str(a.tenant.pk) and len(r["hash"]) == 64 for r in rows)


def test_csv_download_has_a_header_and_one_row_per_event(varied_log, signed_in):
    a, _ = varied_log
    response = signed_in(a.admin).get("/api/v1/audit/events/export.csv", {"resource": "https://a.example/mcp"})
    assert isinstance(response, StreamingHttpResponse) and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["action"] for r in rows] == ["resource.created", "token.issued"]
    assert json.loads(rows[1]["data"])["resource"] == "https://a.example/mcp"


def test_taking_an_export_is_itself_audited(varied_log, signed_in):
    a, _ = varied_log
    b"".join(signed_in(a.auditor).get(f"/console/{a.slug}/audit/export.csv", {"action": "client."})
             .streaming_content)
    event = AuditEvent.objects.filter(tenant=a.tenant, action="audit.exported").get()
    assert event.actor_label == a.auditor.email and event.data["filters"] == {"action": "client."}


def test_export_job_writes_a_file_with_progress_and_only_its_tenant_downloads_it(varied_log, signed_in,
                                                                                 settings, tmp_path):
    settings.AUDIT_EXPORT_DIR = tmp_path
    a, b = varied_log
    run_id = run_export(tenant_id=a.tenant.pk, filters={}, fmt="jsonl", requested_by=a.admin.email)
    run = JobRun.objects.get(pk=run_id)
    total = AuditEvent.objects.filter(tenant=a.tenant, occurred_at__lte=run.started_at).count()
    assert run.status == "succeeded" and run.done == run.result["rows"] >= total - 1 > 3
    lines = export_path(run.pk, "jsonl").read_text().splitlines()
    assert len(lines) == run.result["rows"] and all(json.loads(x)["chain"] == str(a.tenant.pk) for x in lines)
    assert not list(tmp_path.glob("*.partial"))
    url = f"/console/{a.slug}/audit/exports/{run.pk}/download"
    page = signed_in(a.admin).get(f"/console/{a.slug}/audit/").content.decode()
    assert url in page
    download = signed_in(a.auditor).get(url)
    assert download.status_code == 200 and b"".join(download.streaming_content).decode().splitlines() == lines
    other = signed_in(b.admin)
    assert other.get(f"/console/{b.slug}/audit/exports/{run.pk}/download").status_code == 404
    assert other.get(url).status_code == 404


def test_console_starts_an_export_job_after_commit(varied_log, signed_in, django_capture_on_commit_callbacks,
                                                   monkeypatch):
    from audit import tasks

    a, _ = varied_log
    queued = []
    monkeypatch.setattr(tasks.export_events, "delay", lambda *args: queued.append(args))  # the broker hop only
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(a.admin).post(f"/console/{a.slug}/audit/export.csv", {"severity": "notice"})
    assert response.status_code == 302 and queued == [(str(a.tenant.pk), {"severity": "notice"}, "csv",
                                                        a.admin.email)]


def test_export_files_are_removed_after_the_keep_period(settings, tmp_path):
    import os
    import time

    from audit.tasks import purge_old_exports

    settings.AUDIT_EXPORT_DIR, settings.AUDIT_EXPORT_KEEP_DAYS = tmp_path, 7
    old, fresh = tmp_path / "old.jsonl", tmp_path / "fresh.csv"
    old.write_text("{}\n")
    fresh.write_text("a\n")
    eight_days_ago = time.time() - 8 * 86400
    os.utime(old, (eight_days_ago, eight_days_ago))
    assert purge_old_exports() == 1 and not old.exists() and fresh.exists()
