"""End to end with real peers: a FastMCP server (official MCP Python SDK, streamable HTTP under uvicorn)
protected by mcp_guard with its settings mirrored from the registry, the SDK's OAuth client, and the
platform's real tenant issuer (authorize, consent, token, JWKS) on a live server.

401 -> PRM discovery -> authorization with PKCE and resource -> token -> tool call; then a tool needing a
scope the token lacks -> 403 insufficient_scope -> the client steps up -> the call succeeds."""

from __future__ import annotations

import anyio
import pytest

from mcp_registry import prm
from tests.oauth.flows import query_of

from .conftest import free_port, run_async
from .peers import REDIRECT_URI, ConsentingUser, Recorder, files_server, oauth_provider

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def registered(no_persistent_db_connections, live_public_url, make_world, make_resource):
    """Tenant alpha with the files server registered (scopes, tools) and a pre-registered public client."""
    from tests.factories import make_client

    world = make_world("alpha")
    port = free_port()
    resource = make_resource(
        world.tenant, "files", uri=f"http://127.0.0.1:{port}/mcp",
        scopes=[{"name": "files:read", "description": "Read your files"},
                {"name": "files:admin", "description": "Delete your files", "granted_by_default": False}],
        tools={"read_file": ["files:read"], "delete_file": ["files:admin"]})
    client, _ = make_client(world.tenant, resources=[resource], redirect_uris=[REDIRECT_URI], name="pytest client")
    return world, resource, client, port


async def _session(server_url: str, client_id: str, user: ConsentingUser, calls):
    import httpx2
    from mcp.client.client import Client
    from mcp.client.streamable_http import streamable_http_client

    results = []
    with anyio.fail_after(60):
        async with httpx2.AsyncClient(auth=oauth_provider(server_url, client_id, user), timeout=30) as http:
            async with Client(streamable_http_client(server_url, http_client=http)) as client:
                for name, arguments in calls:
                    result = await client.call_tool(name, arguments)
                    results.append((result.is_error, result.content[0].text))
    return results


def test_sdk_client_discovers_authorizes_calls_and_steps_up_through_mcp_guard(registered, signed_in, serve_asgi):
    from mcp_guard import protect

    world, resource, client, port = registered
    recorder = Recorder(protect(files_server().streamable_http_app(), prm.mirror_url(resource)))
    server = serve_asgi(recorder, port=port)
    user = ConsentingUser(signed_in(world.member))

    results = run_async(_session, f"{server.url}/mcp", client.client_id, user,
                        [("read_file", {"path": "a.txt"}), ("delete_file", {"path": "a.txt"})])

    assert results == [(False, "contents of a.txt"), (False, "deleted a.txt")]
    statuses = [(method, path, status) for method, path, status in recorder.exchanges]
    assert statuses[0] == ("POST", "/mcp", 401)
    assert ("GET", "/.well-known/oauth-protected-resource/mcp", 200) in statuses
    assert ("POST", "/mcp", 403) in statuses, statuses  # the step-up challenge for delete_file
    # Two authorizations: the minimal scope first, then the union with the scope the tool needs.
    assert len(user.authorization_urls) == 2 and user.consent_pages == 2
    first, second = (query_of(url) for url in user.authorization_urls)
    assert set(first["scope"].split()) - {"offline_access"} == {"files:read"}  # the PRM's minimal scopes
    assert {"files:read", "files:admin"} <= set(second["scope"].split())
    assert first["resource"] == second["resource"] == resource.uri


def test_sdk_server_with_the_one_line_adapter_refuses_tokens_for_another_resource(registered, signed_in,
                                                                                   serve_asgi, make_resource):
    """MCPServer(..., **sdk_auth(url)) checks tokens itself; a token the tenant minted for another of its
    resources is refused (aud), and the right one passes."""
    from mcp_guard.mcp_sdk import sdk_auth
    from tests.factories import make_client

    world, resource, client, port = registered
    server = serve_asgi(files_server_with(sdk_auth(prm.mirror_url(resource))).streamable_http_app(), port=port)
    other_port = free_port()
    other = make_resource(world.tenant, "other", uri=f"http://127.0.0.1:{other_port}/mcp", scopes=["files:read"])
    other_client, _ = make_client(world.tenant, resources=[other], redirect_uris=[REDIRECT_URI], name="other")
    user = ConsentingUser(signed_in(world.member))

    results = run_async(_session, f"{server.url}/mcp", client.client_id, user, [("read_file", {"path": "b"})])
    assert results == [(False, "contents of b")]

    # A valid token of the same issuer, for the other resource, presented to this server.
    import httpx

    from tests.oauth.flows import authorize, exchange
    auth = authorize(signed_in(world.member), world.tenant, other_client, resource=other.uri, scope="files:read")
    token = exchange(signed_in(world.member), world.tenant, other_client, auth, resource=other.uri).json()
    refused = httpx.post(f"{server.url}/mcp", headers={"Authorization": f"Bearer {token['access_token']}",
                                                       "Accept": "application/json, text/event-stream"},
                         json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]


def files_server_with(auth_kwargs):
    from mcp.server.mcpserver import MCPServer

    mcp = MCPServer("files", **auth_kwargs)

    @mcp.tool()
    def read_file(path: str) -> str:
        return f"contents of {path}"

    return mcp


def test_guard_follows_registry_changes_through_the_mirrored_metadata(registered, signed_in, serve_asgi):
    """A scope an admin adds to a tool in the registry is enforced by the guard once its copy of the
    metadata is older than the platform's max-age (conditional GET: an unchanged document is a 304)."""
    import httpx

    from mcp_guard import protect
    from mcp_registry import services
    from tests.factories import ACTOR
    from tests.oauth.flows import authorize, exchange

    world, resource, client, port = registered
    guard = protect(files_server().streamable_http_app(), prm.mirror_url(resource))
    server = serve_asgi(guard, port=port)
    http = signed_in(world.member)
    token = exchange(http, world.tenant, client, authorize(http, world.tenant, client, resource=resource.uri,
                                                           scope="files:read"), resource=resource.uri).json()
    headers = {"Authorization": f"Bearer {token['access_token']}", "Accept": "application/json, text/event-stream"}
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "read_file", "arguments": {}}}

    first = httpx.post(f"{server.url}/mcp", headers=headers, json=call)
    assert first.status_code != 403  # read_file needs files:read, which the token has
    etag = guard.config.etag
    guard.config.max_age = 0  # as if the platform's 60 s had passed
    assert httpx.post(f"{server.url}/mcp", headers=headers, json=call).status_code != 403
    assert guard.config.etag == etag  # unchanged: kept after a 304
    services.tool_save(resource=resource, actor=ACTOR, name="read_file", scopes=["files:read", "files:admin"])
    guard.config.max_age = 0
    refused = httpx.post(f"{server.url}/mcp", headers=headers, json=call)
    assert refused.status_code == 403 and 'scope="files:admin files:read"' in refused.headers["www-authenticate"]
