"""VS Code stable, as it really behaves, against the live server (PostgreSQL) and an MCP server whose tokens
mcp_guard verifies, ending in a tool call; once by Client ID Metadata Document, once by DCR.

VS Code cannot run here, so the test sends exactly what it sends. The shapes come from its source
(microsoft/vscode):
- src/vs/base/common/oauth.ts: ``fetchResourceMetadata`` (the ``resource_metadata`` of the 401 challenge,
  else the PRM well-known path with the resource path, then at the root; ``resource`` must equal the server
  URL), ``fetchAuthorizationServerMetadata`` (RFC 8414 path insertion first, then OIDC discovery),
  ``fetchDynamicRegistration`` (the DCR body: client_uri, ``grant_types`` = the server's
  ``grant_types_supported`` filtered to authorization_code / refresh_token / device_code, its four redirect
  URIs, ``token_endpoint_auth_method`` none, ``application_type`` native), ``DEFAULT_AUTH_FLOW_PORT`` 33418;
- src/vs/workbench/api/node/extHostAuthentication.ts: ``_createWithLoopbackServer`` (the authorization URL's
  parameters and their order, the loopback redirect ``http://127.0.0.1:<port>/`` on 33418 or any free port,
  a base64 ``state`` checked on return);
- the token and refresh requests are form posts with ``client_id`` and ``resource`` (issue 14);
- its CIMD document, served at https://vscode.dev/oauth/client-metadata.json, is copied field for field
  (tests/oauth/registration/test_client_metadata.py VSCODE_DOCUMENT).

The document is served over https by a loopback server with a certificate for ``vscode.dev`` from a CA made
in the test. The platform's fetcher finds it through the egress guard's resolver hook (kit/egress.py
``resolver``, answering vscode.dev with 127.0.0.1 and the server's free port), trusts the CA through
REGISTRATION_CIMD_CA_FILE and admits loopback through REGISTRATION_CIMD_ALLOW_LOOPBACK: the certificate is
verified for the name vscode.dev, and nothing in production code knows about the test."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode, urlsplit

import anyio
import httpx
import pytest

from oauth.models import Application
from oauth.registration.models import ClientRegistration
from tests.oauth.admin.peers import UserAgent, query_of

from .conftest import events_of, set_policy
from .documents import DocumentHost, make_test_ca
from .test_client_metadata import VSCODE_DOCUMENT
from .test_sdk_peers import run_sdk

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

VSCODE_CLIENT_ID = "https://vscode.dev/oauth/client-metadata.json"
VSCODE_GRANTS = ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"]


@pytest.fixture(scope="module")
def vscode_dev_ca(tmp_path_factory):
    return make_test_ca(tmp_path_factory.mktemp("vscode-ca"), names=("vscode.dev",))


@pytest.fixture
def vscode_dev(vscode_dev_ca, settings, monkeypatch):
    """https://vscode.dev, as far as the platform's CIMD fetcher can tell: VS Code's document on loopback."""
    from kit import egress

    host = DocumentHost(tls=(vscode_dev_ca[1], vscode_dev_ca[2]))
    host.put("/oauth/client-metadata.json", {"client_id": VSCODE_CLIENT_ID, **VSCODE_DOCUMENT},
             headers={"Cache-Control": "max-age=3600"})
    settings.REGISTRATION_CIMD_ALLOW_LOOPBACK = True
    settings.REGISTRATION_CIMD_CA_FILE = str(vscode_dev_ca[0])
    real = egress.resolver

    def resolve(name, port):
        return [("127.0.0.1", host.port)] if (name, port) == ("vscode.dev", 443) else real(name, port)

    monkeypatch.setattr(egress, "resolver", resolve)
    yield host
    host.close()


class LoopbackRedirect:
    """VS Code's LoopbackAuthServer: listens on 127.0.0.1, takes ``/?code=&state=``, checks the state."""

    def __init__(self):
        self.state = base64.b64encode(secrets.token_bytes(16)).decode()  # randomBytes(16).toString('base64')
        self.result: dict = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                params = query_of(self.path)
                ok = urlsplit(self.path).path == "/" and params.get("state") == owner.state and "code" in params
                owner.result = params if ok else {"error": params.get("error", "state does not match")}
                self.send_response(302)
                self.send_header("Location", "/success")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # 33418 may be taken: any port, as VS Code
        self.redirect_uri = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class VSCode:
    """What VS Code sends, in its order, over real HTTP."""

    def __init__(self, server_url: str):
        self.server_url = server_url
        self.http = httpx.Client(timeout=15, follow_redirects=False)
        self.requests: list[str] = []

    def get(self, url: str) -> httpx.Response:
        self.requests.append(f"GET {url}")
        return self.http.get(url, headers={"Accept": "application/json"})

    def post(self, url: str, **kwargs) -> httpx.Response:
        self.requests.append(f"POST {url}")
        return self.http.post(url, **kwargs)

    def discover(self) -> tuple[dict, dict, list[str]]:
        """401 challenge -> PRM -> authorization server metadata (RFC 8414 path insertion first)."""
        challenge = self.post(self.server_url, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "Visual Studio Code",
                                                                                 "version": "1.106.0"}}},
            headers={"Accept": "application/json, text/event-stream"})
        assert challenge.status_code == 401, challenge.text
        header = challenge.headers["WWW-Authenticate"]
        params = dict(part.strip().split("=", 1) for part in header.split(" ", 1)[1].split(",") if "=" in part)
        params = {k: v.strip('"') for k, v in params.items()}
        prm_url = params.get("resource_metadata") or (
            f"{urlsplit(self.server_url).scheme}://{urlsplit(self.server_url).netloc}"
            f"/.well-known/oauth-protected-resource{urlsplit(self.server_url).path}")
        prm = self.get(prm_url).json()
        assert prm["resource"] == self.server_url  # VS Code refuses a PRM for another resource
        issuer = prm["authorization_servers"][0]
        parts = urlsplit(issuer)
        metadata = self.get(f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server{parts.path}")
        assert metadata.status_code == 200, metadata.text
        scopes = params["scope"].split() if params.get("scope") else prm.get("scopes_supported", [])
        return prm, metadata.json(), scopes

    def register(self, metadata: dict, scopes: list[str]) -> str:
        """fetchDynamicRegistration, body as VS Code builds it."""
        supported = metadata.get("grant_types_supported")
        body = {"client_name": "Visual Studio Code", "client_uri": "https://code.visualstudio.com",
                "grant_types": [g for g in supported if g in VSCODE_GRANTS] if supported else VSCODE_GRANTS,
                "response_types": ["code"],
                "redirect_uris": ["https://insiders.vscode.dev/redirect", "https://vscode.dev/redirect",
                                  "http://127.0.0.1/", "http://127.0.0.1:33418/"],
                "scope": " ".join(scopes), "token_endpoint_auth_method": "none", "application_type": "native"}
        answer = self.post(metadata["registration_endpoint"], content=json.dumps(body),
                           headers={"Content-Type": "application/json"})
        assert answer.status_code == 201, answer.text
        return answer.json()["client_id"]

    def authorize(self, metadata: dict, prm: dict, client_id: str, scopes: list[str], user: UserAgent):
        """_createWithLoopbackServer: the authorization URL, the person in the browser, the loopback return."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        loopback = LoopbackRedirect()
        try:
            query = {"client_id": client_id, "response_type": "code", "scope": " ".join(scopes),
                     "code_challenge": challenge, "code_challenge_method": "S256", "resource": prm["resource"],
                     "redirect_uri": loopback.redirect_uri, "state": loopback.state}
            back = user.authorize(f"{metadata['authorization_endpoint']}?{urlencode(query)}")
            assert back.startswith(loopback.redirect_uri + "?"), back
            self.http.get(back)  # the browser lands on VS Code's loopback server
            assert "code" in loopback.result, loopback.result
            assert loopback.result.get("iss") == metadata["issuer"]  # RFC 9207
            return loopback.result["code"], verifier, loopback.redirect_uri
        finally:
            loopback.close()

    def token(self, metadata: dict, form: dict) -> dict:
        answer = self.post(metadata["token_endpoint"], data=form, headers={"Accept": "application/json"})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def call_whoami(self, access_token: str) -> str:
        return run_sdk(_whoami, self.server_url, access_token)


async def _whoami(server_url: str, access_token: str) -> str:
    import httpx2
    from mcp.client.client import Client
    from mcp.client.streamable_http import streamable_http_client

    with anyio.fail_after(30):
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {access_token}"}, timeout=15) as http:
            async with Client(streamable_http_client(server_url, http_client=http)) as client:
                result = await client.call_tool("whoami", {})
    assert not result.is_error, result.content
    return result.content[0].text


def _flow(vscode: VSCode, user: UserAgent, world, *, client_id: str | None):
    prm, metadata, scopes = vscode.discover()
    if client_id is None:
        client_id = vscode.register(metadata, scopes)
    code, verifier, redirect_uri = vscode.authorize(metadata, prm, client_id, scopes, user)
    tokens = vscode.token(metadata, {"client_id": client_id, "grant_type": "authorization_code", "code": code,
                                     "redirect_uri": redirect_uri, "code_verifier": verifier,
                                     "resource": prm["resource"]})
    first = vscode.call_whoami(tokens["access_token"])
    refreshed = vscode.token(metadata, {"client_id": client_id, "grant_type": "refresh_token",
                                        "refresh_token": tokens["refresh_token"], "resource": prm["resource"]})
    assert refreshed["refresh_token"] != tokens["refresh_token"]  # rotated
    second = vscode.call_whoami(refreshed["access_token"])
    return client_id, metadata, first, second


def test_vscode_stable_connects_by_its_client_id_metadata_document(mcp_world, vscode_dev):
    world, resource, user = mcp_world
    set_policy(world.tenant, cimd_mode="open")
    vscode = VSCode(resource.uri)

    client_id, metadata, first, second = _flow(vscode, user, world, client_id=VSCODE_CLIENT_ID)

    assert metadata["client_id_metadata_document_supported"] is True
    expected = f"{world.member.pk} via {VSCODE_CLIENT_ID} with notes:read"
    assert first.startswith(expected) and second.startswith(expected)  # the token's client_id is the URL
    assert vscode_dev.hits("/oauth/client-metadata.json") == 1  # fetched once, cached per Cache-Control
    headers = dict(vscode_dev.requests[0][1])
    assert headers["Host"] == "vscode.dev"  # the name, not the pinned address
    registration = ClientRegistration.objects.unscoped().get(tenant=world.tenant, cimd_url=VSCODE_CLIENT_ID)
    assert registration.application.grant_type_list == ["authorization_code", "refresh_token"]
    assert registration.metadata["not_granted"] == {"grant_types": [VSCODE_GRANTS[2]]}
    assert not ClientRegistration.objects.unscoped().filter(tenant=world.tenant, source="dcr").exists()
    assert {e.client_id for e in events_of(world.tenant, "consent.granted")} == {VSCODE_CLIENT_ID}
    assert not events_of(world.tenant, "registration.cimd_failed")
    # VS Code's order: the MCP server, its PRM, then the tenant's RFC 8414 metadata.
    assert [r.split(" ", 1)[0] + " " + urlsplit(r.split(" ", 1)[1]).path for r in vscode.requests[:3]] == [
        "POST /mcp", "GET /.well-known/oauth-protected-resource/mcp",
        f"GET /.well-known/oauth-authorization-server/t/{world.slug}"]


def test_vscode_stable_connects_by_dcr_when_the_tenant_takes_no_metadata_documents(mcp_world):
    world, resource, user = mcp_world
    set_policy(world.tenant, dcr_mode="open", cimd_mode="closed")
    vscode = VSCode(resource.uri)

    client_id, metadata, first, second = _flow(vscode, user, world, client_id=None)

    assert "client_id_metadata_document_supported" not in metadata
    expected = f"{world.member.pk} via {client_id} with notes:read"
    assert first.startswith(expected) and second.startswith(expected)
    client = Application.objects.unscoped().get(client_id=client_id)
    assert client.registration_source == "dcr" and client.status == "approved"
    assert client.grant_type_list == ["authorization_code", "refresh_token"]
    assert client.redirect_uris.split() == ["https://insiders.vscode.dev/redirect", "https://vscode.dev/redirect",
                                            "http://127.0.0.1/", "http://127.0.0.1:33418/"]
