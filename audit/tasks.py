"""Thin Celery wrappers: take ids, re-fetch, call the audit services; idempotent and acks_late.

Long runs (export, retention) are logged and report progress through kit.joblog, the job log's port:
jobs records its own events through audit, so audit never imports jobs.
"""

from __future__ import annotations

import time
from pathlib import Path

from celery import shared_task
from django.apps import apps
from django.conf import settings
from django.db.models import Q

from kit.joblog import job_run

from . import export, failures, services, streaming
from .models import AuditChainHead, AuditTenantSettings
from .selectors import EventFilter


def _tenant(tenant_id):
    return apps.get_model("tenants", "Tenant").objects.filter(pk=tenant_id).first()


def export_path(run_id, fmt: str) -> Path:
    return Path(settings.AUDIT_EXPORT_DIR) / f"{run_id}.{fmt}"


def run_export(*, tenant_id, filters: dict, fmt: str, requested_by: str = "") -> str | None:
    """The export job: writes the file under AUDIT_EXPORT_DIR, reporting progress; returns the run id."""
    tenant = _tenant(tenant_id)
    if tenant is None:
        return None
    flt = EventFilter.from_query(filters)
    with job_run("audit.export", tenant=tenant, params={"format": fmt, "filters": filters,
                                                        "requested_by": requested_by}) as job:
        path = export_path(job.run.pk, fmt)
        rows = export.write_export(tenant=tenant, flt=flt, fmt=fmt, path=path,
                                   progress=lambda done: job.progress(done))
        job.run.result = {"rows": rows, "format": fmt, "file": path.name}
    return str(job.run.pk)


@shared_task(name="audit.export_events", acks_late=True, ignore_result=True)
def export_events(tenant_id: str, filters: dict, fmt: str, requested_by: str = ""):
    run_export(tenant_id=tenant_id, filters=filters, fmt=fmt, requested_by=requested_by)


@shared_task(name="audit.checkpoint_chains", acks_late=True, ignore_result=True)
def checkpoint_chains():
    """Hourly: sign every chain whose head moved since its last checkpoint."""
    for chain in AuditChainHead.objects.values_list("chain", flat=True):
        services.checkpoint_chain(chain=chain)


def purge_old_exports(*, now: float | None = None) -> int:
    """Export files are copies of the log: they do not outlive AUDIT_EXPORT_KEEP_DAYS."""
    cutoff = (now or time.time()) - settings.AUDIT_EXPORT_KEEP_DAYS * 86400
    removed = 0
    for path in Path(settings.AUDIT_EXPORT_DIR).glob("*"):
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


@shared_task(name="audit.purge_expired_events", acks_late=True, ignore_result=True)
def purge_expired_events():
    """Daily: retention per tenant, each tenant in its own transaction (and job-log entry); old exports."""
    purge_old_exports()
    policies = AuditTenantSettings.objects.filter(Q(retention_days__isnull=False) |
                                                  Q(pending_retention_days__isnull=False))
    for tenant_id in policies.values_list("tenant_id", flat=True):
        tenant = _tenant(tenant_id)
        if tenant is None:
            continue
        with job_run("audit.retention", tenant=tenant, audited=False) as job:
            job.run.result = {"dropped": services.events_purge(tenant=tenant)}


@shared_task(name="audit.summarise_failures", acks_late=True, ignore_result=True)
def summarise_failures():
    """Every minute: the summary events of refused requests (audit/failures.py)."""
    failures.summarise_failures()


@shared_task(name="audit.stream_events", acks_late=True, ignore_result=True)
def stream_events():
    """Every few seconds: one delivery task per sink with undelivered events whose retry is due."""
    for sink_id in streaming.due_sinks():
        deliver_sink.delay(str(sink_id))


@shared_task(name="audit.deliver_sink", acks_late=True, ignore_result=True)
def deliver_sink(sink_id: str):
    streaming.deliver(sink_id)
