"""Thin Celery wrappers: take ids, re-fetch, call the audit services; idempotent and acks_late.

This module (not audit's core: models, services, selectors, hashing) uses jobs.job_run for progress and
the job log; jobs itself records its events through audit, so the dependency stays one-way at import.
"""

from __future__ import annotations

from pathlib import Path

from celery import shared_task
from django.apps import apps
from django.conf import settings

from jobs.services import job_run

from . import export
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
