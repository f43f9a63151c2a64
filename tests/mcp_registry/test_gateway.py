"""The authenticating gateway: an unprotected FastMCP server put behind mcp_guard, by the ``mcp-guard
gateway`` app and by the platform's own ASGI app for gateway-mode resources. Streams pass through
unbuffered, the caller's token never reaches the upstream, and an identity assertion does if configured."""

from __future__ import annotations

import asyncio
import time

import anyio
import httpx
import pytest

from mcp_guard import ResourceConfig
from mcp_guard.assertion import IdentityAssertion
from mcp_guard.cli import main as cli_main
from mcp_guard.gateway import gateway_app
from tests.mcp_guard.issuer import LocalIssuer

from .conftest import free_port, run_async
from .peers import files_server

SECRET = "a-shared-secret-of-at-least-32-bytes!!"


class HeaderTap:
    """Wraps the upstream and keeps the headers of every request it receives."""

    def __init__(self, app):
        self.app, self.seen = app, []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.seen.append({k.decode(): v.decode() for k, v in scope["headers"]})
        await self.app(scope, receive, send)


async def call_tools(url: str, token: str, calls):
    import httpx2
    from mcp.client.client import Client
    from mcp.client.streamable_http import streamable_http_client

    out = []
    with anyio.fail_after(30):
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}", "X-MCP-Identity": "forged"},
                                      timeout=20) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                for name, arguments in calls:
                    result = await client.call_tool(name, arguments)
                    out.append(result.content[0].text)
    return out


@pytest.fixture
def upstream(serve_asgi):
    tap = HeaderTap(files_server().streamable_http_app())
    server = serve_asgi(tap)
    return tap, f"{server.url}/mcp"


def test_gateway_proxies_an_unprotected_server_without_passing_the_token(document_server, upstream, serve_asgi):
    tap, upstream_url = upstream
    issuer = LocalIssuer(document_server)
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    config = ResourceConfig.build(resource=resource, issuer=issuer.issuer, scopes=["files:read"],
                                  tool_scopes={"read_file": ["files:read"], "delete_file": ["files:admin"]})
    serve_asgi(gateway_app(config, upstream_url, identity_secret=SECRET), port=port)
    token = issuer.mint(resource, scope="files:read")

    assert run_async(call_tools, resource, token, [("read_file", {"path": "x"})]) == ["contents of x"]

    assert tap.seen, "the upstream was never reached"
    assert all("authorization" not in headers for headers in tap.seen)
    assert all(token not in " ".join(headers.values()) for headers in tap.seen)
    claims = IdentityAssertion(SECRET, issuer=resource, audience=upstream_url).verify(tap.seen[-1]["x-mcp-identity"])
    assert claims["sub"] == "user-1" and claims["client_id"] == "client-1" and claims["scope"] == "files:read"
    assert claims["exp"] - claims["iat"] <= 60
    # The guard still applies per-tool scopes in front of the upstream.
    denied = httpx.post(resource, headers={"Authorization": f"Bearer {token}",
                                           "Accept": "application/json, text/event-stream"},
                        json={"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                              "params": {"name": "delete_file", "arguments": {"path": "x"}}})
    assert denied.status_code == 403 and 'scope="files:admin"' in denied.headers["www-authenticate"]
    anonymous = httpx.post(resource, json={})
    assert anonymous.status_code == 401
    assert f'resource_metadata="http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp"' in \
        anonymous.headers["www-authenticate"]


async def slow_sse(scope, receive, send):
    """An upstream that sends one SSE event, waits, then another: a buffering proxy would deliver both late."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
    await send({"type": "http.response.body", "body": b"event: message\ndata: first\n\n", "more_body": True})
    await asyncio.sleep(1.0)
    await send({"type": "http.response.body", "body": b"event: message\ndata: second\n\n", "more_body": False})


def test_sse_streams_pass_through_the_gateway_unbuffered(document_server, serve_asgi):
    issuer = LocalIssuer(document_server)
    upstream = serve_asgi(slow_sse)
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    config = ResourceConfig.build(resource=resource, issuer=issuer.issuer, scopes=["files:read"])
    serve_asgi(gateway_app(config, f"{upstream.url}/mcp"), port=port)
    arrivals = []
    started = time.monotonic()
    with httpx.stream("GET", resource, headers={"Authorization": f"Bearer {issuer.mint(resource)}",
                                                "Accept": "text/event-stream"}, timeout=10) as response:
        assert response.status_code == 200 and response.headers["content-type"] == "text/event-stream"
        for line in response.iter_lines():
            if line.startswith("data: "):
                arrivals.append((line[6:], time.monotonic() - started))
    assert [data for data, _ in arrivals] == ["first", "second"]
    assert arrivals[0][1] < 0.7 <= arrivals[1][1], arrivals  # the first event did not wait for the second


def test_unreachable_upstream_is_a_502(document_server, serve_asgi):
    issuer = LocalIssuer(document_server)
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    config = ResourceConfig.build(resource=resource, issuer=issuer.issuer)
    serve_asgi(gateway_app(config, f"http://127.0.0.1:{free_port()}/mcp"), port=port)
    bearer = {"Authorization": f"Bearer {issuer.mint(resource)}"}
    response = httpx.post(resource, headers=bearer, json={})
    assert response.status_code == 502 and response.json()["error"] == "bad_gateway"
    elsewhere = httpx.get(f"http://127.0.0.1:{port}/admin", headers=bearer)
    assert elsewhere.status_code == 404


def test_cli_refuses_incomplete_configuration_with_a_message(capsys):
    assert cli_main(["gateway", "--resource", "http://127.0.0.1:9/mcp", "--upstream", "http://127.0.0.1:9/x",
                     "--issuer", "http://127.0.0.1:9/t/x", "--tool-scope", "broken"]) == 2
    assert "TOOL=SCOPE" in capsys.readouterr().err
    assert cli_main(["gateway", "--resource", f"http://127.0.0.1:{free_port()}/meta", "--upstream", "http://x"]) == 2
    assert "could not fetch" in capsys.readouterr().err


@pytest.mark.django_db(transaction=True)
def test_platform_serves_gateway_resources_through_its_asgi_app(make_world, make_resource, signed_in, upstream,
                                                               serve_asgi, settings):
    """The platform's ASGI app is the resource server for gateway-mode resources: the SDK client reaches
    the upstream at /t/<slug>/mcp/<name> with a token from the real tenant issuer, and nothing else does."""
    from mcp_registry import services
    from tests.factories import ACTOR, REDIRECT_URI, make_client
    from tests.oauth.flows import authorize, exchange

    tap, upstream_url = upstream
    port = free_port()
    settings.PUBLIC_URL = f"http://127.0.0.1:{port}"
    from mcp_platform.asgi import application

    world = make_world("alpha")
    resource = make_resource(world.tenant, "files", hosting_mode="gateway", upstream_url=upstream_url,
                             scopes=["files:read"], tools={"read_file": ["files:read"]})
    client, _ = make_client(world.tenant, resources=[resource], redirect_uris=[REDIRECT_URI])
    serve_asgi(application, port=port)
    services.resource_set_gateway_identity_secret(resource=resource, actor=ACTOR, secret=SECRET)
    http = signed_in(world.member)
    auth = authorize(http, world.tenant, client, resource=resource.uri, scope="files:read")
    token = exchange(http, world.tenant, client, auth, resource=resource.uri).json()["access_token"]

    assert resource.uri == f"http://127.0.0.1:{port}/t/alpha/mcp/files"
    assert run_async(call_tools, resource.uri, token, [("read_file", {"path": "y"})]) == ["contents of y"]
    assert tap.seen and all("authorization" not in headers for headers in tap.seen)
    identity = IdentityAssertion(SECRET, issuer=resource.uri, audience=upstream_url).verify(
        tap.seen[-1]["x-mcp-identity"])  # the platform's assertion, not the caller's forged header
    import jwt
    assert identity["sub"] == jwt.decode(token, options={"verify_signature": False})["sub"]
    assert identity["client_id"] == client.client_id and identity["scope"] == "files:read"
    challenge = httpx.post(resource.uri, json={}).headers["www-authenticate"]
    prm_url = f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource/t/alpha/mcp/files"
    assert f'resource_metadata="{prm_url}"' in challenge
    assert httpx.get(prm_url).json()["resource"] == resource.uri  # served by Django, same document
    assert httpx.post(f"http://127.0.0.1:{port}/t/alpha/mcp/nothing", json={}).status_code == 404
    verified = services.resource_verify(resource=resource, actor=ACTOR)  # its path answers here: verified
    assert verified.verification_status == "verified", verified.verification_error

    # Tenant bravo's issuer signs a valid token for bravo's own gateway resource: alpha's resource refuses it.
    bravo = make_world("bravo")
    theirs = make_resource(bravo.tenant, "files", hosting_mode="gateway", upstream_url=upstream_url,
                           scopes=["files:read"])
    their_client, _ = make_client(bravo.tenant, resources=[theirs], redirect_uris=[REDIRECT_URI])
    their_http = signed_in(bravo.member)
    their_auth = authorize(their_http, bravo.tenant, their_client, resource=theirs.uri, scope="files:read")
    their_token = exchange(their_http, bravo.tenant, their_client, their_auth, resource=theirs.uri).json()
    refused = httpx.post(resource.uri, headers={"Authorization": f"Bearer {their_token['access_token']}"}, json={})
    assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]


def test_an_mcp_session_belongs_to_the_caller_who_opened_it(document_server, serve_asgi):
    """protect() hands the SDK the verified principal, so the SDK binds each session to it: another
    user's valid token with a stolen Mcp-Session-Id finds no session."""
    from mcp_guard import protect

    issuer = LocalIssuer(document_server)
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    config = ResourceConfig.build(resource=resource, issuer=issuer.issuer, scopes=["files:read"])
    serve_asgi(protect(files_server().streamable_http_app(), config), port=port)
    accept = {"Accept": "application/json, text/event-stream"}
    alice, mallory = issuer.mint(resource, sub="alice"), issuer.mint(resource, sub="mallory")
    opened = httpx.post(resource, headers={"Authorization": f"Bearer {alice}", **accept}, json={
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
    assert opened.status_code == 200, opened.text
    session = {"Mcp-Session-Id": opened.headers["mcp-session-id"], "Mcp-Protocol-Version": "2025-06-18", **accept}
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    stolen = httpx.post(resource, headers={"Authorization": f"Bearer {mallory}", **session}, json=listing)
    assert stolen.status_code == 404
    own = httpx.post(resource, headers={"Authorization": f"Bearer {alice}", **session}, json=listing)
    assert own.status_code == 200 and "read_file" in own.text
