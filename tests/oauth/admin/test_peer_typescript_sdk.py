"""The official MCP TypeScript SDK client (@modelcontextprotocol/sdk, Node 22) against a tenant issuer,
end to end over real HTTP: 401 -> discovery -> pre-registered client -> authorization with PKCE and
resource (the driver follows the URL with the signed-in person's session cookie and allows on the consent
page) -> finishAuth(code) -> tool call on an SDK MCPServer verifying the tenant's JWTs -> auth() refreshes
(rotating the refresh token) -> tool call with the new token."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from oauth.models import RefreshToken

from .peers import NODE, PEERS, REDIRECT_URI, UserAgent, notes_server, query_of

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def run_ts_client(server_url: str, client_id: str, cookie: str) -> list[dict]:
    if not NODE.exists():
        pytest.fail(f"Node 22 is required: {NODE} is missing (npm ci --prefix tests/peers)")
    done = subprocess.run([str(NODE), str(PEERS / "mcp_ts_client.mjs"), server_url, client_id, REDIRECT_URI, "whoami"],
                          cwd=PEERS, env={**os.environ, "PLATFORM_COOKIE": cookie}, capture_output=True, text=True,
                          timeout=30)
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, (events, done.stderr[-2000:])
    return events


def test_typescript_sdk_client_discovers_authorizes_calls_refreshes_and_calls_again(peering, serve_asgi):
    serve_asgi(notes_server(resource=peering.resource.uri, issuer=peering.tenant.issuer).streamable_http_app(),
               port=peering.port)
    user = UserAgent(peering.base_url, peering.tenant.slug).sign_in(peering.world.member.email)

    events = run_ts_client(peering.server_url, peering.client.client_id, user.cookie_header)

    kinds = [e["event"] for e in events]
    assert kinds == ["authorization_url", "consent", "callback", "tool", "refreshed", "tool"], events
    request = query_of(events[0]["url"])
    assert request["resource"] == peering.resource.uri and request["code_challenge_method"] == "S256"
    assert request["client_id"] == peering.client.client_id
    assert events[0]["url"].startswith(f"{peering.tenant.issuer}/authorize?")
    assert query_of(events[2]["url"])["iss"] == peering.tenant.issuer
    expected = f"{peering.world.member.pk} via {peering.client.client_id} with notes:read"
    first, refreshed, second = events[3], events[4], events[5]
    assert first["isError"] is False and first["text"].startswith(expected)
    assert refreshed == {"event": "refreshed", "accessTokenChanged": True, "refreshTokenRotated": True}
    assert second["isError"] is False and second["text"].startswith(expected)
    rows = RefreshToken.objects.unscoped().filter(application=peering.client)
    assert rows.filter(revoked__isnull=False).count() == 1 and rows.filter(revoked__isnull=True).count() == 1
