"""Fixtures of the registry and mcp_guard tests: resources built through the services, a tiny HTTP server
for documents the platform fetches, a local issuer (signing keys + JWKS + metadata), and uvicorn apps on
free loopback ports."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests import factories
from tests.conftest import free_port  # noqa: F401  (re-exported: peer tests import it from here)


@pytest.fixture(autouse=True)
def loopback_servers_allowed(settings):
    """The registry's tests verify, import from and proxy to servers on 127.0.0.1: the operator setting
    admits exactly that address, as an operator lists an internal network. The guard's default (public
    addresses only) is what tests/kit/test_egress_matrix.py checks for every caller."""
    settings.EGRESS_ALLOWED_NETWORKS = "127.0.0.1/32"


@pytest.fixture
def make_resource(db):
    """``make_resource(tenant, name, uri=..., scopes=..., tools=..., hosting_mode=...)``: tests.factories'
    builder with the name first and a URI made from it."""

    def make(tenant, name="files", *, uri=None, scopes=("files:read",), **kwargs):
        if uri is None and kwargs.get("hosting_mode") != "gateway":
            uri = f"https://{name}.{tenant.slug}.example/mcp"
        kwargs.setdefault("display_name", "")
        return factories.make_resource(tenant, uri or "", name=name, scopes=scopes, **kwargs)

    return make


def run_async(fn, *args):
    """``anyio.run(fn, *args)`` on a thread of its own. Playwright's sync API (browser tests earlier in the
    session) leaves an event loop in the test thread, where asyncio refuses to start another; the thread's
    database connection (the SDK peers' callbacks may use the Django test client) is closed with it."""

    def target():
        import anyio
        from django.db import connections

        try:
            return anyio.run(fn, *args)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(target).result()


class DocumentServer:
    """Serves JSON documents by path on a loopback port and counts the requests per path."""

    def __init__(self):
        self.documents: dict[str, tuple[int, bytes, dict]] = {}
        self.hits: dict[str, int] = {}
        self.posted: list[bytes] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                path = self.path.split("?", 1)[0]
                owner.hits[path] = owner.hits.get(path, 0) + 1
                status, body, headers = owner.documents.get(path, (404, b'{"error":"not_found"}', {}))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):  # noqa: N802 (introspection answers are documents too)
                owner.posted.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                self.do_GET()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def put(self, path: str, document, status: int = 200, headers: dict | None = None):
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.documents[path] = (status, body, headers or {})

    def protect(self, path: str = "/mcp"):
        """``path`` answers as a protected MCP server does without a token: 401 with a Bearer challenge."""
        challenge = f'Bearer resource_metadata="{self.url}/.well-known/oauth-protected-resource{path}"'
        self.put(path, {"error": "unauthorized"}, status=401, headers={"WWW-Authenticate": challenge})

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def document_server():
    server = DocumentServer()
    yield server
    server.close()


class UvicornThread:
    """An ASGI app under uvicorn on a free loopback port, in a thread of the test process."""

    def __init__(self, app, port: int | None = None):
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on",
                                timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"uvicorn did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def no_persistent_db_connections():
    """Servers in threads of the test process (live server, Django under uvicorn) open connections on
    threads that end before the test does; with CONN_MAX_AGE those connections outlive their threads and
    keep the test database busy at teardown. Closed per request here, as Django advises for ASGI."""
    from django.db import connections

    saved = connections.settings["default"].get("CONN_MAX_AGE", 0)
    connections.settings["default"]["CONN_MAX_AGE"] = 0
    yield
    connections.settings["default"]["CONN_MAX_AGE"] = saved


@pytest.fixture
def serve_asgi(no_persistent_db_connections):
    """Starts ASGI apps under uvicorn on free loopback ports; stops them after the test."""
    started = []

    def serve(app, port=None):
        server = UvicornThread(app, port).__enter__()
        started.append(server)
        return server

    yield serve
    for server in reversed(started):
        server.__exit__(None, None, None)
