"""Area fixtures: a restartable Celery worker (optionally with embedded beat on an accelerated schedule)
on its own queue, so a test can SIGKILL it without disturbing the session's shared worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT, _reachable, require_service
from tests.oauth.admin.conftest import estates, session_api, token_api  # noqa: F401  (API callers, two estates)
from tests.oauth.factories import make_agent, make_resource

from .helpers import Setup

FAST_SCHEDULE = {"KEY_ROTATION_CHECK_SECONDS": "1", "JOB_LEASE_SECONDS": "3", "HEARTBEAT_INTERVAL_SECONDS": "3600"}


class Worker:
    """One `celery worker` process group (solo pool: the process that is killed is the one working)."""

    def __init__(self, queue: str, database_url: str, log_dir: Path, beat: bool, env: dict):
        self.queue, self.beat, self.log_dir = queue, beat, log_dir
        self.env = {**os.environ, "DATABASE_URL": database_url, "CELERY_QUEUE": queue, **FAST_SCHEDULE, **env}
        self.proc = None
        self.starts = 0

    def start(self) -> None:
        from mcp_platform.celery import app

        self.starts += 1
        name = f"jk-{uuid.uuid4().hex[:8]}@%h"
        args = [sys.executable, "-m", "celery", "-A", "mcp_platform", "worker", "--queues", self.queue, "--pool",
                "solo", "--loglevel", "INFO", "--hostname", name, "--without-gossip", "--without-mingle"]
        if self.beat:
            args += ["--beat", "--schedule", str(self.log_dir / f"beat-{uuid.uuid4().hex[:8]}")]
        log = open(self.log_dir / f"worker-{self.starts}.log", "w")
        self.proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the Celery worker exited ({self.proc.returncode}); see {log.name}")
            hostname = name.replace("%h", os.uname().nodename)
            if app.control.ping(destination=[hostname], timeout=0.5):
                return
        self.stop()
        pytest.fail("the Celery worker did not answer a ping within 30 s")

    def kill(self) -> None:
        """SIGKILL to the whole process group (worker and its embedded beat): no cleanup, no ack."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def worker_factory(transactional_db, settings, tmp_path):
    """Starts workers on a queue of their own (the test process sends there too); stops them after."""
    from django.db import connection

    from mcp_platform.celery import app

    if not settings.REDIS_URL or not _reachable(settings.REDIS_URL, 6379):
        require_service("Redis", "the Celery worker uses Redis as its broker")
    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-jk-{uuid.uuid4().hex[:6]}"
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    settings.JOB_LEASE_SECONDS = int(FAST_SCHEDULE["JOB_LEASE_SECONDS"])
    workers = []

    def make(*, beat: bool = False, **env) -> Worker:
        worker = Worker(queue, database_url, tmp_path, beat, env)
        workers.append(worker)
        worker.start()
        return worker

    yield make
    for worker in workers:
        worker.stop()
    app.conf.task_default_queue = previous_queue


@pytest.fixture
def setup(make_tenant) -> Setup:
    """A tenant with one MCP resource, an agent (client_credentials) and the resource server's client."""
    tenant = make_tenant("keys")
    resource = make_resource(tenant, "https://mcp.keys.example/mcp", name="files")
    agent, agent_secret = make_agent(tenant, resources=[resource], name="agent")
    server, server_secret = make_agent(tenant, resources=[resource], name="files server")
    return Setup(tenant, resource, agent, agent_secret, server, server_secret)
