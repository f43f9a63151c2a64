"""Real MCP peers for the end-to-end tests: a FastMCP (``MCPServer``) server built with the official MCP
Python SDK, the SDK's OAuth client driven through the platform's real authorize/consent pages, and a
recorder of what reached the server."""

from __future__ import annotations

from urllib.parse import urlsplit

from mcp.server.mcpserver import Context  # resolved by name in the tool's annotations

from mcp_platform.demo.connect import MemoryStorage, public_client  # noqa: F401  (the SDK client's parts, shipped)

REDIRECT_URI = "http://127.0.0.1:33418/callback"


def files_server(name: str = "files"):
    """An MCP server with a harmless tool and a dangerous one; the registry decides who may call which."""
    from mcp.server.mcpserver import MCPServer

    mcp = MCPServer(name)

    @mcp.tool()
    def read_file(path: str) -> str:
        """Read a file."""
        return f"contents of {path}"

    @mcp.tool()
    def delete_file(path: str) -> str:
        """Delete a file."""
        return f"deleted {path}"

    return mcp


class Recorder:
    """ASGI middleware noting (method, path, status) of every HTTP exchange, outermost."""

    def __init__(self, app):
        self.app = app
        self.exchanges: list[tuple[str, str, int]] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def recording_send(message):
            if message["type"] == "http.response.start":
                self.exchanges.append((scope["method"], scope["path"], message["status"]))
            await send(message)

        await self.app(scope, receive, recording_send)


class ConsentingUser:
    """Plays the person at the browser: follows the authorization URL with a signed-in Django test client,
    allows on the consent page, and hands the redirect's code, state and iss back to the SDK."""

    def __init__(self, http):
        self.http = http
        self.result = None
        self.consent_pages = 0
        self.authorization_urls: list[str] = []

    async def redirect_handler(self, url: str) -> None:
        from tests.oauth.flows import query_of

        self.authorization_urls.append(url)
        parts = urlsplit(url)
        local = f"{parts.path}?{parts.query}"
        response = self.http.get(local)
        if response.status_code == 200:
            self.consent_pages += 1
            response = self.http.post(local, {"decision": "allow"})
        assert response.status_code == 302, (response.status_code, response.content[:300])
        self.result = query_of(response["Location"])

    async def callback_handler(self):
        from mcp.shared.auth import AuthorizationCodeResult

        result, self.result = self.result, None
        return AuthorizationCodeResult(code=result["code"], state=result.get("state"), iss=result.get("iss"))


def oauth_provider(server_url: str, client_id: str, user: ConsentingUser):
    return public_client(server_url, client_id, REDIRECT_URI, redirect_handler=user.redirect_handler,
                         callback_handler=user.callback_handler, client_name="pytest MCP client")


def counting_server():
    """An MCP server whose tool reports progress while it works: the progress notifications travel on
    the response's SSE stream, so a buffering proxy would deliver them all at the end."""
    import anyio
    from mcp.server.mcpserver import MCPServer

    mcp = MCPServer("counter")

    @mcp.tool()
    async def count(n: int, ctx: Context) -> str:
        """Count to n, slowly."""
        for i in range(1, n + 1):
            await ctx.report_progress(i, n)
            await anyio.sleep(0.3)
        return f"counted {n}"

    return mcp
