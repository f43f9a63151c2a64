"""Running a background job: its log row, progress and audit events.

jobs sits above audit and uses only its public face (``audit.record``, ``audit.Actor``); audit's own tasks
reach ``job_run`` through ``kit.joblog``.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

from django.utils import timezone

import audit
from audit import Actor

from .models import JobRun, JobStatus


def _actor(name: str) -> Actor:
    return Actor("job", name, name)


class JobCancelled(Exception):
    pass


class JobHandle:
    """What a running job sees: progress reporting and cancellation."""

    def __init__(self, run: JobRun):
        self.run = run

    def progress(self, done: int, total: int | None = None) -> None:
        fields = {"done": done}
        if total is not None:
            fields["total"] = total
        JobRun.objects.filter(pk=self.run.pk).update(**fields)
        self.run.done = done
        if total is not None:
            self.run.total = total

    def check_cancelled(self) -> None:
        if JobRun.objects.filter(pk=self.run.pk, cancel_requested=True).exists():
            raise JobCancelled()


def job_enqueue(name: str, *, tenant=None, params: dict | None = None) -> JobRun:
    """A queued run, listed (and cancellable) before a worker picks it up; hand its id to the task,
    which continues it with ``job_run(..., run=run)``."""
    return JobRun.objects.create(name=name, tenant=tenant, params=params or {}, status=JobStatus.QUEUED)


@contextmanager
def job_run(name: str, *, tenant=None, params: dict | None = None, audited: bool = True, run: JobRun | None = None):
    """Log one run of a job; its start, finish and failure are audited with counts.

    With ``run`` (from job_enqueue) the same row is continued: a task redelivered after its worker died, or
    retried after a failure, resumes the run (audited with ``resumed=True``) instead of starting another.
    """
    if run is None:
        run = JobRun.objects.create(name=name, tenant=tenant, params=params or {}, status=JobStatus.RUNNING,
                                    started_at=timezone.now())
        resumed = False
    else:
        resumed = run.status != JobStatus.QUEUED  # its worker died, or a retry after a failure
        run.status, run.started_at = JobStatus.RUNNING, run.started_at or timezone.now()
        JobRun.objects.filter(pk=run.pk).update(status=run.status, started_at=run.started_at)
        params = params or run.params
    if audited:
        extra = {"resumed": True, "done": run.done} if resumed else {}
        audit.record(tenant, _actor(name), "job.started", run, job=name, **(params or {}), **extra)
    handle = JobHandle(run)
    try:
        yield handle
    except JobCancelled:
        _finish(run, JobStatus.CANCELLED)
        if audited:
            audit.record(tenant, _actor(name), "job.cancelled", run, job=name, done=run.done)
    except Exception as exc:
        _finish(run, JobStatus.FAILED, error=f"{exc.__class__.__name__}: {exc}"[:2000])
        audit.record(tenant, _actor(name), "job.failed", run, severity="warning", job=name,
                     error=exc.__class__.__name__, done=run.done)
        raise
    else:
        _finish(run, JobStatus.SUCCEEDED, result=run.result)
        if audited:
            audit.record(tenant, _actor(name), "job.finished", run, job=name, done=run.done, **run.result)


def _finish(run: JobRun, status: str, *, error: str = "", result: dict | None = None) -> None:
    run.status, run.error, run.finished_at = status, error, timezone.now()
    if result is not None:
        run.result = result
    JobRun.objects.filter(pk=run.pk).update(status=status, error=error, finished_at=run.finished_at,
                                            result=run.result, done=run.done, total=run.total)


def job_request_cancel(*, run: JobRun, actor) -> None:
    JobRun.objects.filter(pk=run.pk, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).update(
        cancel_requested=True)
    audit.record(run.tenant, actor, "job.cancel_requested", run, job=run.name)


def scheduler_heartbeat(*, keep: timedelta = timedelta(days=1)) -> JobRun:
    """Proves the scheduler and a worker are alive; keeps a day of beats."""
    with job_run("scheduler.heartbeat", audited=False) as job:
        purged, _ = JobRun.objects.filter(
            name="scheduler.heartbeat", created_at__lt=timezone.now() - keep).delete()
        job.run.result = {"purged": purged}
    return job.run
