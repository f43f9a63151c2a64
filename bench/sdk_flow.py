"""A full MCP SDK flow against the running platform, timed: the official MCP Python SDK client meets an MCP
server protected by mcp_guard, gets 401, discovers the Protected Resource Metadata and the authorization
server, authorizes with PKCE and ``resource``, exchanges the code, and calls a tool.

    python -m bench.sdk_flow [--flows 20] [--calls 300]

Run by ``python -m bench sdk`` with the platform already serving on 127.0.0.1:8100 (production settings,
the benchmark database). Prints latency percentiles of

1. the whole flow from a cold client (connect, 401, PRM, metadata, authorize, token, initialize, call);
2. a tool call with a token (mcp_guard verifies the JWT locally: signature, issuer, audience, scopes);
3. the same tool call on the same MCP server without mcp_guard, for the guard's share.

The person at the browser is played over HTTP: a signed-in session of the benchmark user (made with
Django's session machinery, a member of the tenant) follows the authorization URL and, when the consent
page is shown, allows (the form's CSRF token included), as a person would.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

from mcp_platform.demo.connect import public_client

from .harness import platform_env

PLATFORM = "http://127.0.0.1:8100"
GUARDED_PORT, BARE_PORT = 8771, 8772
SLUG = "bench-es"
REDIRECT_URI = "http://127.0.0.1:33418/callback"
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def fixture() -> tuple[str, str, str]:
    """(client_id, session cookie value, PRM mirror URL): idempotent, through the real services."""
    from django.conf import settings
    from django.test import Client

    from audit.services import Actor
    from mcp_registry import prm
    from mcp_registry import services as registry
    from mcp_registry.models import MCPResource
    from oauth.clients import services as client_services
    from oauth.models import Application
    from tenants.models import Membership, Role, Tenant
    from tenants.services import membership_add

    from .seed import _user

    actor = Actor("system", "", "bench")
    tenant = Tenant.objects.get(slug=SLUG)
    resource = MCPResource.objects.for_tenant(tenant).filter(name="sdk-files").first()
    if resource is None:
        resource = registry.resource_create(tenant=tenant, actor=actor, name="sdk-files",
                                            uri=f"http://127.0.0.1:{GUARDED_PORT}/mcp",
                                            scopes=[{"name": "files:read", "granted_by_default": True}])
        registry.tool_save(resource=resource, actor=actor, name="read_file", scopes=["files:read"])
    client = Application.objects.for_tenant(tenant).filter(name="bench SDK client").first()
    if client is None:
        client, _ = client_services.client_create(tenant=tenant, name="bench SDK client",
                                                  client_type=Application.CLIENT_PUBLIC, redirect_uris=[REDIRECT_URI],
                                                  allowed_resources=[resource], actor=actor)
    user = _user()
    if not Membership.objects.filter(tenant=tenant, user=user).exists():
        membership_add(tenant=tenant, email=user.email, role=Role.MEMBER, actor=actor)
    browser = Client()
    browser.force_login(user, backend="identity.backends.EmailBackend")
    return client.client_id, browser.cookies[settings.SESSION_COOKIE_NAME].value, prm.mirror_url(resource)


def mcp_app():
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("files")

    @server.tool()
    def read_file(path: str) -> str:
        """Read a file."""
        return f"contents of {path}"

    return server.streamable_http_app()


class Uvicorn:
    def __init__(self, app, port: int):
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 15
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


class ConsentingUser:
    """Follows the authorization URL with the signed-in session and allows on the consent page."""

    def __init__(self, session_cookie: str):
        from django.conf import settings

        self.cookies = {settings.SESSION_COOKIE_NAME: session_cookie}
        self.result = None
        self.consent_pages = 0

    async def redirect_handler(self, url: str) -> None:
        import httpx2

        async with httpx2.AsyncClient(cookies=self.cookies, follow_redirects=False, timeout=30) as http:
            response = await http.get(url)
            if response.status_code == 200:  # the consent page: allow, as the person would
                self.consent_pages += 1
                token = CSRF_FIELD.search(response.text).group(1)
                response = await http.post(url, data={"csrfmiddlewaretoken": token, "decision": "allow"},
                                           headers={"Referer": url})
        if response.status_code != 302:
            raise RuntimeError(f"authorization did not redirect ({response.status_code}): {response.text[-1500:]}")
        self.result = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}

    async def callback_handler(self):
        from mcp.shared.auth import AuthorizationCodeResult

        result, self.result = self.result, None
        return AuthorizationCodeResult(code=result["code"], state=result.get("state"), iss=result.get("iss"))


def provider(server_url: str, client_id: str, user: ConsentingUser):
    return public_client(server_url, client_id, REDIRECT_URI, redirect_handler=user.redirect_handler,
                         callback_handler=user.callback_handler, client_name="bench SDK client")


async def flows(server_url: str, client_id: str, user: ConsentingUser, n: int) -> list[float]:
    """n cold clients, each through the whole flow to one tool call; ms each."""
    import httpx2
    from mcp.client.client import Client
    from mcp.client.streamable_http import streamable_http_client

    took = []
    for _ in range(n):
        started = time.perf_counter()
        async with httpx2.AsyncClient(auth=provider(server_url, client_id, user), timeout=30) as http:
            async with Client(streamable_http_client(server_url, http_client=http)) as client:
                result = await client.call_tool("read_file", {"path": "a.txt"})
        took.append(1000 * (time.perf_counter() - started))
        if result.is_error:
            raise RuntimeError(f"tool call failed: {result.content}")
    return took


async def calls(server_url: str, n: int, auth=None) -> list[float]:
    """n tool calls in one session (a token already held when ``auth`` is given); ms each."""
    import httpx2
    from mcp.client.client import Client
    from mcp.client.streamable_http import streamable_http_client

    took = []
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
        async with Client(streamable_http_client(server_url, http_client=http)) as client:
            await client.call_tool("read_file", {"path": "warm"})
            for _ in range(n):
                started = time.perf_counter()
                result = await client.call_tool("read_file", {"path": "a.txt"})
                took.append(1000 * (time.perf_counter() - started))
                if result.is_error:
                    raise RuntimeError(f"tool call failed: {result.content}")
    return took


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"{statistics.median(ordered):9.2f} {p99:9.2f} {len(ordered):6d}"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=20)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args(argv)
    for name, value in platform_env(8100).items():
        os.environ.setdefault(name, value)
    import anyio
    import django

    django.setup()
    from mcp_guard import protect

    client_id, cookie, prm_url = fixture()
    user = ConsentingUser(cookie)
    guarded, bare = f"http://127.0.0.1:{GUARDED_PORT}/mcp", f"http://127.0.0.1:{BARE_PORT}/mcp"
    with Uvicorn(protect(mcp_app(), prm_url), GUARDED_PORT), Uvicorn(mcp_app(), BARE_PORT):
        cold = anyio.run(flows, guarded, client_id, user, args.flows)
        warm = anyio.run(calls, guarded, args.calls, provider(guarded, client_id, user))
        unguarded = anyio.run(calls, bare, args.calls)
    print("what                                              p50 ms    p99 ms      n")
    print(f"whole flow, cold client (401 .. token .. call)  {percentiles(cold)}")
    print(f"tool call through mcp_guard (token held)        {percentiles(warm)}")
    print(f"tool call, same server without mcp_guard        {percentiles(unguarded)}")
    share = statistics.median(warm) - statistics.median(unguarded)
    print(f"mcp_guard's share of a tool call (p50)          {share:9.2f}")
    print(f"(consent pages answered: {user.consent_pages} of {args.flows + 1} authorizations)")


if __name__ == "__main__":
    main(sys.argv[1:])
