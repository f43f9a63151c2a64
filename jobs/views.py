"""Console pages of the job log: the tenant's recent jobs with live progress (htmx polls a fragment while
something runs; no inline script, the CSP forbids it), and cancel. They stand on the tenant console base,
as every app's console pages may; the pages that start oauth's jobs (bulk revocation, key rotation) stay in
oauth/console_jobs.py, since they need oauth's services. Reads through jobs.selectors, writes through
jobs.services, always for ``self.tenant``.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.shortcuts import redirect
from django.views import View
from django.views.generic import TemplateView

from tenants.console import TenantConsoleMixin

from .models import JobStatus
from .selectors import jobs_for_tenant
from .services import job_request_cancel

JOBS_SHOWN = 50
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


def _uuid(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


class JobsView(TenantConsoleMixin, TemplateView):
    """GET: the tenant's recent jobs. With ``?rows=1`` (htmx polling) only the table body."""

    section = "console:jobs"
    template_name = "console/jobs.html"

    def get_template_names(self):
        return ["console/_job_rows.html"] if self.request.GET.get("rows") else [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        jobs = list(jobs_for_tenant(self.tenant).exclude(name="scheduler.heartbeat")[:JOBS_SHOWN])
        context.update(jobs=jobs, polling=any(job.status in ACTIVE for job in jobs))
        return context


class JobCancelView(TenantConsoleMixin, View):
    section = "console:jobs"

    def post(self, request, slug, run_id):
        run = jobs_for_tenant(self.tenant).filter(pk=_uuid(run_id)).first()
        if run is None or run.status not in ACTIVE:
            messages.error(request, "That job is not running any more; nothing to cancel.")
        else:
            job_request_cancel(run=run, actor=request.user)
            messages.success(request, f"Asked {run.name} to stop; it stops after its current batch.")
        return redirect("console:jobs", slug=slug)
