"""kit's two small ports: a task enqueued by its name, and audit's jobs logged through kit.joblog."""

from __future__ import annotations

import pytest
from celery import current_app

from jobs.models import JobRun, JobStatus
from kit import joblog
from kit.tasks import enqueue


@pytest.mark.django_db
def test_a_task_enqueued_by_name_runs_in_process_in_eager_mode_as_delay_would():
    before = JobRun.objects.filter(name="scheduler.heartbeat").count()
    current_app.conf.task_always_eager = True  # celery's Settings cannot be monkeypatched (no delattr)
    try:
        enqueue("jobs.scheduler_heartbeat")
    finally:
        current_app.conf.task_always_eager = False
    assert JobRun.objects.filter(name="scheduler.heartbeat", status=JobStatus.SUCCEEDED).count() == before + 1


def test_a_task_enqueued_by_name_goes_to_the_broker_under_its_name(monkeypatch):
    sent = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args, kwargs: sent.append((name, args, kwargs)))
    enqueue("oauth.revoke_tokens", "run-1")
    assert sent == [("oauth.revoke_tokens", ("run-1",), {})]


@pytest.mark.django_db
def test_the_job_log_port_is_the_jobs_app_job_run_once_django_is_ready():
    with joblog.job_run("audit.export", params={"format": "jsonl"}, audited=False) as job:
        job.progress(3, 5)
        job.run.result = {"rows": 3}
    run = JobRun.objects.get(pk=job.run.pk)
    assert (run.status, run.done, run.total, run.result) == (JobStatus.SUCCEEDED, 3, 5, {"rows": 3})


def test_without_the_jobs_app_the_port_says_so(monkeypatch):
    monkeypatch.setattr(joblog, "_runner", None)
    with pytest.raises(RuntimeError, match="no job log"):
        joblog.job_run("audit.export")
