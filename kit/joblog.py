"""The job log's port: how code below ``jobs`` (audit's tasks) runs a logged job without importing jobs.

``jobs`` sits above ``audit`` (every run is audited through ``audit.record``), so audit cannot import it
back. The jobs app plugs its ``job_run`` in here when Django is ready (jobs/apps.py); until then, or if
jobs is not installed, running a job is an error that says so rather than a job that leaves no log.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol


class JobHandle(Protocol):
    """What a running job sees: its log row (``run.pk``, ``run.result``), progress and cancellation."""

    run: Any

    def progress(self, done: int, total: int | None = None) -> None: ...

    def check_cancelled(self) -> None: ...


class JobRunner(Protocol):
    def __call__(self, name: str, *, tenant=None, params: dict | None = None,
                 audited: bool = True) -> AbstractContextManager[JobHandle]: ...


_runner: JobRunner | None = None


def provide(runner: JobRunner) -> None:
    """Called once by the jobs app at start-up."""
    global _runner
    _runner = runner


def job_run(name: str, *, tenant=None, params: dict | None = None, audited: bool = True
            ) -> AbstractContextManager[JobHandle]:
    """``jobs.services.job_run``, reached through the port: one logged (and, by default, audited) run."""
    if _runner is None:
        raise RuntimeError("no job log: the 'jobs' app is not installed or Django is not set up")
    return _runner(name, tenant=tenant, params=params, audited=audited)
