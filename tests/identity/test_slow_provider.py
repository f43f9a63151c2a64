"""An anonymous /sso/<idp>/start against a slow or hostile provider cannot stall the web tier: discovery
has one deadline for the whole fetch, one fetch per provider runs at a time (the other visitors get 503 at
once), a failure is remembered, and a huge document is cut off while streaming. At 562953a two requests
to a slow provider held two workers for 28 s and a 400 MB document was read whole into memory."""

from __future__ import annotations

import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.cache import cache
from django.db import connections
from django.test import Client

from audit.services import Actor
from identity.services import identity_provider_create
from identity.sso import oidc

ACTOR = Actor("test", "", "pytest")


class HostileProvider:
    """/slow drips its discovery document a byte every 0.1 s; /huge streams 50 MB without a length."""

    def __init__(self):
        self.hits = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                owner.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if self.path.startswith("/slow"):
                    self.send_header("Content-Length", "10000")
                    self.end_headers()
                    chunks = (b" " for _ in range(300))
                    pause = 0.1
                else:
                    self.send_header("Connection", "close")
                    self.end_headers()
                    chunks = (b"[" + b"0," * 32767 for _ in range(800))
                    pause = 0
                try:
                    for chunk in chunks:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        if pause:
                            time.sleep(pause)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile(settings, monkeypatch):
    settings.SSO_ALLOW_HTTP_LOOPBACK = True  # the provider is on loopback; everything else is production
    monkeypatch.setattr(oidc, "FETCH_DEADLINE_SECONDS", 1.0)
    cache.clear()
    provider = HostileProvider()
    yield provider
    provider.close()
    cache.clear()


def _provider(tenant, url):
    return identity_provider_create(tenant=tenant, name="Slow", slug="slow", actor=ACTOR, client_id="platform",
                                    client_secret="secret", discovery_url=url, issuer=url.rsplit("/", 1)[0])


@pytest.mark.django_db(transaction=True)
def test_anonymous_starts_at_a_slow_provider_return_at_once_and_healthz_stays_fast(two_tenants, hostile):
    a, _ = two_tenants
    _provider(a.tenant, f"{hostile.url}/slow/.well-known/openid-configuration")

    def start():
        began = time.monotonic()
        try:
            status = Client().get(f"/t/{a.slug}/sso/slow/start").status_code
        finally:
            connections.close_all()
        return status, time.monotonic() - began

    with ThreadPoolExecutor(6) as pool:
        starts = [pool.submit(start) for _ in range(6)]
        time.sleep(0.2)
        began = time.monotonic()
        assert Client().get("/healthz").status_code == 200
        healthz = time.monotonic() - began
        answers = [f.result() for f in starts]
    assert healthz < 0.5, healthz
    assert all(status == 502 for status, _ in answers), answers
    assert max(seconds for _, seconds in answers) < 2.5, answers  # the 1 s deadline, not 30 s of drip
    assert hostile.hits == 1  # one fetch for six visitors
    status, seconds = start()  # the failure is remembered: no new fetch for the next visitor
    assert status == 502 and seconds < 0.5 and hostile.hits == 1


@pytest.mark.django_db
def test_a_huge_discovery_document_is_cut_off_without_reading_it(two_tenants, hostile, client):
    a, _ = two_tenants
    _provider(a.tenant, f"{hostile.url}/huge/.well-known/openid-configuration")
    tracemalloc.start()
    try:
        response = client.get(f"/t/{a.slug}/sso/slow/start")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 502 and "<code>idp_bad_response</code>" in response.content.decode()
    assert peak < 16 * 1024 * 1024, peak  # 50 MB offered (the cap is 512 KiB; the rest is the request itself)
