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
import threading  # noqa: E402
import time  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402


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

@pytest.fixture
def killable_worker(celery_worker_factory):
    """A solo-pool worker on a queue of its own, started by the test: SIGKILL takes the whole worker down
    mid-task, like a crashed machine. Small batches, so a delivery has several."""
    return celery_worker_factory(start=False, AUDIT_SINK_BATCH="5", AUDIT_SINK_TIMEOUT_SECONDS="20",
                                 AUDIT_SINK_ALLOW_HTTP_LOOPBACK="true")
