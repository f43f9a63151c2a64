"""Background jobs run on a real Celery worker (Redis broker), and the embedded default runs them too."""

import os
import signal
import subprocess
import time

import httpx
import pytest

from jobs.models import JobRun, JobStatus
from tests.conftest import free_port, serve_platform

pytestmark = pytest.mark.slow


@pytest.mark.django_db(transaction=True)
def test_a_real_celery_worker_runs_the_heartbeat_task(celery_worker):
    from jobs.tasks import scheduler_heartbeat

    before = JobRun.objects.filter(name="scheduler.heartbeat").count()
    scheduler_heartbeat.delay()
    deadline = time.time() + 20
    while time.time() < deadline:
        if JobRun.objects.filter(name="scheduler.heartbeat", status=JobStatus.SUCCEEDED).count() > before:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the worker did not run the task within 20 s")


@pytest.mark.django_db(transaction=True)
def test_job_failures_are_logged_and_audited():
    from audit.models import AuditEvent
    from jobs.services import job_run

    with pytest.raises(RuntimeError), job_run("test.failing"):
        raise RuntimeError("boom")
    run = JobRun.objects.get(name="test.failing")
    assert run.status == JobStatus.FAILED and "boom" in run.error
    assert AuditEvent.objects.filter(action="job.failed", target_id=str(run.pk), severity="warning").exists()



@pytest.fixture
def embedded_platform(tmp_path):
    """The README's run path (manage.py migrate, seed_demo, serve) with no PostgreSQL and no Redis."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_QUEUE")}
    env.update(VAR_DIR=str(tmp_path / "var"), HEARTBEAT_INTERVAL_SECONDS="2", PUBLIC_URL=f"http://127.0.0.1:{port}")
    proc = serve_platform(env, port, tmp_path / "serve.log")
    base = f"http://127.0.0.1:{port}"
    yield base, tmp_path
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def test_embedded_default_serves_and_runs_scheduled_jobs_without_postgres_or_redis(embedded_platform, page):
    base, tmp_path = embedded_platform
    assert (tmp_path / "var" / "platform.sqlite3").exists()
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    deadline = time.time() + 30
    beat = None
    while time.time() < deadline and not beat:
        beat = httpx.get(f"{base}/readyz").json()["checks"]["scheduler_last_heartbeat"]
        time.sleep(0.5)
    assert beat, "the embedded scheduler never ran its heartbeat job"
    assert "redis" not in httpx.get(f"{base}/readyz").json()["checks"]

    # The demo admin signs in through Chromium and sees the tenant dashboard.
    from mcp_platform.management.commands.seed_demo import DEMO_EMAIL, DEMO_PASSWORD

    page.goto(f"{base}/console/")
    page.fill("input[name=username]", DEMO_EMAIL)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/console/demo/")
    assert page.locator("h1").inner_text() == "Demo Company"
    assert page.locator("#issuer").inner_text() == f"{base}/t/demo"
    assert "ago" in page.locator("#heartbeat").inner_text()
    page.screenshot(path=str(tmp_path / "dashboard.png"))
