"""Fixtures of the audit tests: a tenant with a varied log, and a killable Celery worker."""

from __future__ import annotations

import pytest

import audit
from audit.services import Actor

ROBOT = Actor("client", "cli-robot", "robot")


@pytest.fixture
def varied_log(two_tenants):
    """Tenant A's log gains events that each filter can single out; tenant B gets look-alikes."""
    a, b = two_tenants
    for world, prefix in ((a, "a"), (b, "b")):
        t = world.tenant
        audit.record(t, world.admin, "client.created", ("oauth.application", f"{prefix}-c1", "Client one"),
                     client_id=f"{prefix}-client-1")
        audit.record(t, ROBOT, "token.issued", ("oauth.application", f"{prefix}-c1", "Client one"),
                     client_id=f"{prefix}-client-1", resource=f"https://{prefix}.example/mcp")
        audit.record(t, world.admin, "resource.created", ("mcp_registry.mcpresource", f"{prefix}-r1", "Files"),
                     resource=f"https://{prefix}.example/mcp")
        audit.record(t, Actor("anonymous", "", "x@evil.example"), "signin.failed", ("identity.user", "", ""))
    return a, b


# --- A webhook receiver on loopback ---------------------------------------------------------------

import hashlib  # noqa: E402
import hmac  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402
from pathlib import Path  # noqa: E402


class Receiver:
    """A SIEM stand-in. ``script`` says how to answer successive requests: "ok", "500", "hang" (sleep past
    the sender's timeout), or "block" (hold the request until ``release`` is set)."""

    def __init__(self):
        self.deliveries: list[list[dict]] = []
        self.bad_signatures = 0
        self.script: list[str] = []
        self.secret = b""
        self.in_flight = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    step = receiver.script.pop(0) if receiver.script else "ok"
                expected = "sha256=" + hmac.new(receiver.secret, body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(expected, self.headers.get("X-Audit-Signature", "")):
                    receiver.bad_signatures += 1
                    return self._answer(401)
                if step == "block":  # stored by the SIEM, but the acknowledgement never reaches the sender
                    with receiver.lock:
                        receiver.deliveries.append(json.loads(body)["events"])
                    receiver.in_flight.set()
                    receiver.release.wait(30)
                    return  # the sender is gone: no answer
                if step == "hang":
                    time.sleep(2)
                    return self._answer(200)
                if step == "500":
                    return self._answer(500)
                with receiver.lock:
                    receiver.deliveries.append(json.loads(body)["events"])
                self._answer(200)

            def _answer(self, status):
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/siem"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ids(self) -> list[int]:
        with self.lock:
            return [e["id"] for batch in self.deliveries for e in batch]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.AUDIT_SINK_ALLOW_HTTP_LOOPBACK = True  # the test's receiver is plain HTTP on loopback
    r = Receiver()
    yield r
    r.close()


# --- A Celery worker this test may SIGKILL and restart -------------------------------------------

class KillableWorker:
    """A solo-pool worker in its own process group on a queue of its own (the session worker must not
    take these tasks): SIGKILL takes the whole worker down mid-task, like a crashed machine."""

    def __init__(self, env: dict, queue: str, log: Path):
        self.env, self.queue, self.log_path = env, queue, log
        self.proc = None

    def start(self):
        from mcp_platform.celery import app

        name = f"audit-{uuid.uuid4().hex[:8]}@%h"
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "mcp_platform", "worker", "--queues", self.queue, "--pool", "solo",
             "--loglevel", "INFO", "--hostname", name, "--without-gossip", "--without-mingle"],
            cwd=Path(__file__).resolve().parents[2], env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the Celery worker exited ({self.proc.returncode}); see {self.log_path}")
            if app.control.ping(destination=[name.replace("%h", os.uname().nodename)], timeout=0.5):
                return
        pytest.fail("the Celery worker did not answer a ping within 30 s")

    def kill(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


@pytest.fixture
def killable_worker(transactional_db, settings):
    from django.db import connection

    from tests.conftest import _reachable

    if not settings.REDIS_URL or not _reachable(settings.REDIS_URL, 6379):
        pytest.fail("Redis is required: the Celery worker uses it as its broker")
    db = connection.settings_dict
    env = dict(os.environ, AUDIT_SINK_BATCH="5", AUDIT_SINK_TIMEOUT_SECONDS="20", AUDIT_SINK_ALLOW_HTTP_LOOPBACK="true",
               DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}")
    worker = KillableWorker(env, f"{settings.CELERY_TASK_DEFAULT_QUEUE}-audit-sinks",
                            Path(settings.VAR_DIR) / "celery-audit-worker.log")
    yield worker
    worker.stop()
