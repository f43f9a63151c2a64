"""The official MCP Python SDK client against a tenant issuer, end to end over real HTTP (PostgreSQL,
live server): 401 -> PRM discovery (served by an SDK MCPServer naming the tenant issuer) -> authorization
server metadata -> pre-registered client -> authorization with PKCE and resource, followed by a signed-in
user agent that consents -> token -> tool call verified against the tenant JWKS (aud checked) -> refresh
(rotated) -> call again."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import anyio
import pytest

from oauth.models import AccessToken, RefreshToken

from .conftest import Peering
from .peers import REDIRECT_URI, UserAgent, notes_server, query_of

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def run_async(function, *args):
    """anyio.run in a thread of its own: Playwright's sync API may hold an event loop in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, function, *args).result(timeout=60)


async def _sdk_session(peering: Peering, user: UserAgent):
    """Two tool calls with the SDK's OAuthClientProvider; the access token is expired between them."""
    import httpx2
    from mcp.client.auth import OAuthClientProvider
    from mcp.client.client import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata

    from tests.mcp_registry.peers import MemoryStorage

    redirected: list[str] = []

    async def redirect_handler(url: str) -> None:  # the person's browser, in a worker thread
        redirected.append(await anyio.to_thread.run_sync(user.authorize, url))

    async def callback_handler() -> AuthorizationCodeResult:
        params = query_of(redirected[-1])
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

    grants = ["authorization_code", "refresh_token"]
    storage = MemoryStorage(OAuthClientInformationFull(client_id=peering.client.client_id,
                                                       redirect_uris=[REDIRECT_URI], grant_types=grants,
                                                       token_endpoint_auth_method="none"))
    provider = OAuthClientProvider(
        server_url=peering.server_url, storage=storage, redirect_handler=redirect_handler,
        callback_handler=callback_handler,
        client_metadata=OAuthClientMetadata(redirect_uris=[REDIRECT_URI], grant_types=grants,
                                            token_endpoint_auth_method="none", client_name="pytest"))
    seen = []
    with anyio.fail_after(30):
        async with httpx2.AsyncClient(auth=provider, timeout=15) as http:
            async with Client(streamable_http_client(peering.server_url, http_client=http)) as client:
                first = await client.call_tool("whoami", {})
                seen.append((first.is_error, first.content[0].text, storage.tokens))
                provider.context.token_expiry_time = time.time() - 1  # as if the access token had expired
                second = await client.call_tool("whoami", {})
                seen.append((second.is_error, second.content[0].text, storage.tokens))
    return seen, redirected


def test_python_sdk_client_discovers_authorizes_calls_refreshes_and_calls_again(peering, serve_asgi):
    server = serve_asgi(notes_server(resource=peering.resource.uri, issuer=peering.tenant.issuer)
                        .streamable_http_app(), port=peering.port)
    user = UserAgent(peering.base_url, peering.tenant.slug).sign_in(peering.world.member.email)

    (first, second), redirected = run_async(_sdk_session, peering, user)

    expected = f"{peering.world.member.pk} via {peering.client.client_id} with notes:read offline_access"
    assert first[:2] == (False, expected) and second[:2] == (False, expected)
    tokens_before, tokens_after = first[2], second[2]
    assert tokens_after.access_token != tokens_before.access_token  # refreshed, not re-authorized
    assert tokens_after.refresh_token != tokens_before.refresh_token  # rotated
    assert len(user.authorization_urls) == 1 and user.consent_pages == 1
    request = query_of(user.authorization_urls[0])
    assert request["resource"] == peering.resource.uri and request["code_challenge_method"] == "S256"
    response = query_of(redirected[0])
    assert response["iss"] == peering.tenant.issuer and "code" in response
    assert server.url  # served on the resource's registered port

    rows = RefreshToken.objects.unscoped().filter(application=peering.client)
    assert rows.filter(revoked__isnull=False).count() == 1 and rows.filter(revoked__isnull=True).count() == 1
    assert AccessToken.objects.unscoped().filter(application=peering.client,
                                                 audience=peering.resource.uri).count() == 1


def test_a_token_for_another_resource_of_the_tenant_is_refused_by_the_sdk_server(peering, serve_asgi):
    """The same issuer, the same JWKS, a valid token: but its aud names another MCP server."""
    import httpx

    from mcp_registry import services as registry
    from tests.factories import ACTOR, make_client

    other_port = peering.free_port()
    other = registry.resource_create(tenant=peering.tenant, actor=ACTOR, name="other",
                                     uri=f"http://127.0.0.1:{other_port}/mcp", scopes=[{"name": "notes:read"}])
    other_client, _ = make_client(peering.tenant, resources=[other], name="Other")
    server = serve_asgi(notes_server(resource=peering.resource.uri, issuer=peering.tenant.issuer)
                        .streamable_http_app(), port=peering.port)
    user = UserAgent(peering.base_url, peering.tenant.slug).sign_in(peering.world.member.email)
    token = peering.token_for(user, other_client, other.uri)

    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {token}"}
    refused = httpx.post(f"{server.url}/mcp", json=call, headers=headers)
    assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]
    right = peering.token_for(user, peering.client, peering.resource.uri)
    accepted = httpx.post(f"{server.url}/mcp", json={**call, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
        headers={**headers, "Authorization": f"Bearer {right}"})
    assert accepted.status_code == 200, accepted.text
