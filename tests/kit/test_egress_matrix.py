"""The SSRF matrix: every caller that fetches an address someone else chose, against every hostile target.

Callers: CIMD documents, SSO discovery / JWKS / token endpoint, SIEM sinks, registration webhooks,
registry verification, tool import and gateway upstreams. Targets: loopback (v4, v6, IPv4-mapped), the
private ranges, link-local metadata, CGNAT, a DNS name resolving to loopback, a redirect to loopback, a
slow-loris server, an oversized body. Production settings (no loopback switch on); the only allowed
network is 127.0.0.2/32 (EGRESS_ALLOWED_NETWORKS), where the "public" servers of the redirect, slow and
oversized cases listen, while an internal service holding a secret listens on 127.0.0.1 and must never
be reached. Every test here failed before the guard (562953a): the callers reached 127.0.0.1 directly.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import anyio
import pytest

from audit.services import Actor
from kit import egress
from tests.conftest import free_port

SECRET_BODY = b'{"db_password": "hunter2"}'
ACTOR = Actor("test", "", "pytest")


class Server:
    """A plain-HTTP server on ``host`` with the routes the matrix needs; ``hits`` counts requests."""

    def __init__(self, host: str):
        self.hits: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
                owner.hits.append(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if self.path.startswith("/redirect"):
                    self.send_response(302)
                    self.send_header("Location", owner.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path.startswith("/slow"):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    try:
                        for _ in range(200):  # a byte every 0.1 s: no single read ever times out
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            time.sleep(0.1)
                    except OSError:
                        pass
                elif self.path.startswith("/huge"):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Connection", "close")  # no Content-Length: only the stream tells
                    self.end_headers()
                    self.close_connection = True
                    chunk = b"[" + b"0," * 32767
                    try:
                        for _ in range(800):  # 50 MB
                            self.wfile.write(chunk)
                    except OSError:
                        pass
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(SECRET_BODY)))
                    self.end_headers()
                    self.wfile.write(SECRET_BODY)

            do_GET = do_POST = _answer  # noqa: N815

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self.redirect_to = ""
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def internal():
    """The stand-in internal service on 127.0.0.1 (an admin API, a metadata service...)."""
    server = Server("127.0.0.1")
    yield server
    server.close()


@pytest.fixture(scope="module")
def outside():
    """A server the operator's allowed network admits (127.0.0.2), redirecting to the internal one."""
    server = Server("127.0.0.2")
    yield server
    server.close()


@pytest.fixture
def production(settings, internal, outside, monkeypatch):
    """Production switches: every loopback allowance off; only 127.0.0.2 is allowed; a resolver where
    loopback.example points at the internal service."""
    settings.EGRESS_ALLOWED_NETWORKS = "127.0.0.2/32"
    settings.SSO_ALLOW_HTTP_LOOPBACK = False
    settings.SSO_ALLOW_PRIVATE_NETWORKS = False
    settings.AUDIT_SINK_ALLOW_HTTP_LOOPBACK = False
    settings.REGISTRATION_CIMD_ALLOW_LOOPBACK = False
    settings.AUDIT_SINK_TIMEOUT_SECONDS = 1.5
    system = egress.resolver

    def resolve(host, port):
        if host == "loopback.example":
            return ["127.0.0.1"]
        return system(host, port)

    monkeypatch.setattr(egress, "resolver", resolve)
    from identity.sso import oidc

    monkeypatch.setattr(oidc, "FETCH_DEADLINE_SECONDS", 1.5)
    from oauth.registration import notifications

    monkeypatch.setattr(notifications, "WEBHOOK_DEADLINE_SECONDS", 1.5)
    outside.redirect_to = f"{internal.url}/secret"
    internal.hits.clear()
    outside.hits.clear()
    from oauth2_provider.settings import oauth2_settings

    monkeypatch.setattr(oauth2_settings, "CIMD_FETCH_TIMEOUT_SECONDS", 1.5, raising=False)
    return SimpleNamespace(internal=internal, outside=outside)


# --- The callers, each as "fetch this URL, tell me what you got" ----------------------------------------

def via_cimd(url):
    from oauth.registration import cimd

    try:
        return cimd.fetch(url)
    except cimd.CIMDError as exc:
        return f"error: {exc}"


def _sso(call):
    from identity.sso.oidc import SSOError

    try:
        return call()
    except SSOError as exc:
        return f"error: {exc}"


def via_sso_discovery(url):
    from identity.sso import oidc

    return _sso(lambda: oidc._fetch_metadata(SimpleNamespace(discovery_url=url)))


def via_sso_jwks(url):
    from identity.sso import oidc

    return _sso(lambda: oidc.refresh_jwks(url))


def via_sso_token(url):
    from identity.sso import oidc

    idp = SimpleNamespace(client_auth_method="client_secret_post", client_id="c")
    return _sso(lambda: oidc.exchange_code(idp, {"token_endpoint": url}, code="x", verifier="v" * 43,
                                           redirect_uri="https://p.example/cb", secret="s", private_key_pem=None))


def via_audit_sink(url):
    from audit import services, streaming

    original = services.sink_secret
    services.sink_secret = lambda sink: b"sink-secret"
    try:
        error = streaming._post(SimpleNamespace(url=url), b'{"events": []}')
    finally:
        services.sink_secret = original
    return f"error: {error}" if error else "delivered"


def via_webhook(url):
    from oauth.registration.notifications import WebhookFailed, post_webhook

    try:
        return post_webhook(SimpleNamespace(webhook_url=url, webhook_secret="", tenant_id=1), {"event": "x"})
    except WebhookFailed as exc:
        return f"error: {exc}"


def via_registry_verify(url):
    from mcp_registry.verification import _fetch_json

    document, error = _fetch_json(url, timeout=1.5)
    return f"error: {error}" if error else document


def via_registry_answers(url):
    from mcp_registry.verification import check_resource_answers

    error = check_resource_answers(SimpleNamespace(uri=url), timeout=1.5)
    return f"error: {error}" if error else "protected"


def via_tool_import(url):
    from mcp_registry.importer import ImportFailed, list_server_tools

    try:
        return list_server_tools(url, timeout=1.5)
    except ImportFailed as exc:
        return f"error: {exc}"


def via_gateway(url):
    """A request through the platform gateway's upstream proxy to ``url``: status and body relayed."""
    from mcp_registry.gateway import upstream_proxy

    proxy = upstream_proxy(url)
    sent = []

    async def run():
        scope = {"type": "http", "method": "POST", "path": "/mcp", "query_string": b"", "headers": []}
        messages = [{"type": "http.request", "body": b"{}", "more_body": False}]

        async def receive():
            if messages:
                return messages.pop(0)
            await anyio.sleep(30)
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        with anyio.fail_after(10):
            await proxy(scope, receive, send)

    anyio.run(run)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return f"error: HTTP {status}" if status >= 500 else body


CALLERS = {
    "cimd": via_cimd, "sso_discovery": via_sso_discovery, "sso_jwks": via_sso_jwks, "sso_token": via_sso_token,
    "audit_sink": via_audit_sink, "webhook": via_webhook, "registry_verify": via_registry_verify,
    "registry_answers": via_registry_answers,
    "tool_import": via_tool_import, "gateway": via_gateway,
}

# https: every caller takes https URLs, so the address rule (not a caller's scheme rule) is what refuses.
ADDRESS_TARGETS = {
    "loopback": "https://127.0.0.1:{port}/secret",
    "loopback_v6": "https://[::1]:{port}/secret",
    "ten": "https://10.0.0.1/secret",
    "one_seven_two": "https://172.16.0.1/secret",
    "one_nine_two": "https://192.168.0.1/secret",
    "metadata": "https://169.254.169.254/latest/meta-data/",
    "cgnat": "https://100.64.0.1/secret",
    "mapped_loopback": "https://[::ffff:127.0.0.1]:{port}/secret",
    "name_to_loopback": "https://loopback.example:{port}/secret",
}


@pytest.mark.django_db
@pytest.mark.parametrize("target", sorted(ADDRESS_TARGETS))
@pytest.mark.parametrize("caller", sorted(CALLERS))
def test_non_public_addresses_are_refused_before_any_connection(production, caller, target):
    url = ADDRESS_TARGETS[target].format(port=production.internal.port)
    started = time.monotonic()
    outcome = CALLERS[caller](url)
    assert isinstance(outcome, str) and outcome.startswith("error"), outcome
    assert "hunter2" not in outcome
    assert production.internal.hits == []
    # Refused at resolution, before any connection (the gateway answers its caller a bare 502).
    assert caller == "gateway" or "non-public address" in outcome, outcome
    assert time.monotonic() - started < 5


@pytest.mark.django_db
@pytest.mark.parametrize("caller", sorted(CALLERS))
def test_a_redirect_to_loopback_is_not_followed(production, caller):
    """No caller follows it (the gateway relays the 302 to its MCP client, which is on its own network)."""
    outcome = CALLERS[caller](f"{production.outside.url}/redirect")
    assert caller == "gateway" or (isinstance(outcome, str) and outcome.startswith("error")), outcome
    assert "hunter2" not in str(outcome)
    assert production.outside.hits and production.internal.hits == []


@pytest.mark.django_db
@pytest.mark.parametrize("caller", sorted(set(CALLERS) - {"gateway"}))
def test_a_slow_loris_server_is_cut_off_at_the_overall_deadline(production, caller):
    """(The gateway streams on purpose, SSE included: its caller's disconnect ends a slow upstream.)"""
    started = time.monotonic()
    outcome = CALLERS[caller](f"{production.outside.url}/slow")
    assert isinstance(outcome, str) and outcome.startswith("error"), outcome
    assert time.monotonic() - started < 4  # 1.5 s deadline; a per-read timeout would wait 20 s


@pytest.mark.django_db
@pytest.mark.parametrize("caller", sorted(set(CALLERS) - {"gateway"}))
def test_an_oversized_body_is_cut_off_while_streaming(production, caller):
    import tracemalloc

    tracemalloc.start()
    try:
        outcome = CALLERS[caller](f"{production.outside.url}/huge")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(outcome, str) and outcome.startswith("error"), outcome
    assert peak < 8 * 1024 * 1024, peak  # 50 MB were offered


@pytest.mark.django_db
def test_internal_services_look_alike(production, settings, internal):
    """Even where an operator allowed the network, a refused port, a plain-HTTP server behind an https
    URL, PostgreSQL and Redis leave the same words in a sink's last_error (no port scanner)."""
    settings.EGRESS_ALLOWED_NETWORKS = "127.0.0.1/32"
    closed = free_port()
    targets = {"closed": closed, "plain_http": internal.port, "postgresql": 5432, "redis": 6379}
    errors = {}
    for name, port in targets.items():
        if name in ("postgresql", "redis"):
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", port)) == 0, f"{name} is not running on {port}"
        errors[name] = via_audit_sink(f"https://127.0.0.1:{port}/hook").replace(str(port), "PORT")
    assert len(set(errors.values())) == 1, errors
    assert "usable HTTP response" in errors["redis"]


@pytest.mark.django_db
def test_allowed_public_like_targets_still_work(production):
    """The guard is not a wall: the allowed network's server answers every caller that reads JSON."""
    assert via_registry_verify(f"{production.outside.url}/ok") == json.loads(SECRET_BODY)
    assert via_audit_sink(f"{production.outside.url}/ok") == "delivered"
    assert via_webhook(f"{production.outside.url}/ok") == 200
    assert via_gateway(f"{production.outside.url}/ok") == SECRET_BODY


# --- Save time: URLs someone types are checked when saved, not only when called ---------------------------

def save_webhook(tenant, url):
    from oauth.registration import services

    services.policy_update(tenant=tenant, actor=ACTOR, webhook_url=url)


def save_sink(tenant, url):
    from audit.services import sink_create

    sink_create(tenant=tenant, name="siem", url=url, actor=ACTOR)


def save_gateway_upstream(tenant, url):
    from mcp_registry import services

    services.resource_create(tenant=tenant, actor=ACTOR, name="files", hosting_mode="gateway", upstream_url=url,
                             scopes=[{"name": "files:read"}])


SAVERS = {"webhook": save_webhook, "audit_sink": save_sink, "gateway_upstream": save_gateway_upstream}


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["https://127.0.0.1:5432/x", "https://169.254.169.254/latest/meta-data/",
                                 "https://loopback.example/x", "https://[::ffff:127.0.0.1]/x",
                                 "http://hooks.public.example/x"])
@pytest.mark.parametrize("saver", sorted(SAVERS))
def test_urls_into_the_platforms_network_are_refused_when_saved(production, make_tenant, saver, url):
    from audit.services import AuditError
    from kit.errors import ApplicationError

    tenant = make_tenant("acme")
    with pytest.raises((ApplicationError, AuditError)) as refused:
        SAVERS[saver](tenant, url)
    assert "non-public address" in str(refused.value) or "https" in str(refused.value), refused.value
