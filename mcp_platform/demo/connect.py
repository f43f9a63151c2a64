"""Connects the official MCP Python SDK client to the tour's Notes server, as any MCP client would:

    .venv/bin/python -m mcp_platform.demo.connect [--server URL] [--add "a note"] [--no-browser]

401 from the server -> its Protected Resource Metadata -> the tenant's authorization server metadata -> the
browser opens the sign-in page (the URL is printed too) -> consent -> the code comes back to a one-shot
loopback listener (RFC 8252 §7.3) -> token (PKCE, ``resource``) -> a tool call, whose result is printed.
The client is the public one seed_demo registers (``notes-demo-connect``); nothing leaves 127.0.0.1.

``--no-browser`` (or ``MCP_CONNECT_NO_BROWSER=1``) only prints the authorization URL, for a terminal without
a browser or a test that plays the person. The pieces (``MemoryStorage``, ``public_client``) are what the
benchmark and the test suite drive the SDK client with too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

from .notes import DEFAULT_PORT, resource_uri

CLIENT_ID = "notes-demo-connect"  # mcp_platform/management/commands/seed_demo.py registers it


class MemoryStorage:
    """The SDK's TokenStorage, in memory, starting from a pre-registered client (or none: the SDK registers)."""

    def __init__(self, client_info=None):
        self.tokens, self.client_info = None, client_info

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


def public_client(server_url: str, client_id: str, redirect_uri: str, *, redirect_handler, callback_handler,
                  client_name: str = "MCP client"):
    """The SDK's OAuth provider for a pre-registered public client (PKCE, no secret, refresh tokens)."""
    from mcp.client.auth import OAuthClientProvider
    from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata

    grants = ["authorization_code", "refresh_token"]
    metadata = OAuthClientMetadata(redirect_uris=[redirect_uri], client_name=client_name, grant_types=grants,
                                   token_endpoint_auth_method="none")
    info = OAuthClientInformationFull(client_id=client_id, redirect_uris=[redirect_uri], grant_types=grants,
                                      token_endpoint_auth_method="none")
    return OAuthClientProvider(server_url=server_url, client_metadata=metadata, storage=MemoryStorage(info),
                               redirect_handler=redirect_handler, callback_handler=callback_handler)


class LoopbackCallback:
    """Listens on 127.0.0.1 (a free port) for the authorization server's redirect back to this app and
    hands its ``code``, ``state`` and ``iss`` to the SDK."""

    PAGE = b"<!doctype html><title>Signed in</title><p>Signed in. You can close this window and go back."

    def __init__(self):
        owner = self
        self._received = threading.Event()
        self.params: dict[str, str] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                parts = urlsplit(self.path)
                if parts.path != "/callback":
                    self.send_error(404)
                    return
                owner.params = {k: v[0] for k, v in parse_qs(parts.query).items()}
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(owner.PAGE)))
                self.end_headers()
                self.wfile.write(owner.PAGE)
                owner._received.set()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.redirect_uri = f"http://127.0.0.1:{self.server.server_address[1]}/callback"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    async def wait(self, timeout: float) -> dict[str, str]:
        self._received.clear()
        if not await asyncio.to_thread(self._received.wait, timeout):
            raise TimeoutError(f"no sign-in came back to {self.redirect_uri} within {timeout:g} s")
        return self.params


class Person:
    """The person at the browser: shown the authorization URL, signs in and consents there."""

    def __init__(self, callback: LoopbackCallback, *, open_browser: bool, timeout: float):
        self.callback, self.open_browser, self.timeout = callback, open_browser, timeout

    async def redirect_handler(self, url: str) -> None:
        print(f"Sign in and allow access at:\n  {url}", flush=True)
        if self.open_browser and not webbrowser.open(url):
            print("(no browser could be opened: open the URL yourself)", flush=True)

    async def callback_handler(self):
        from mcp.shared.auth import AuthorizationCodeResult

        params = await self.callback.wait(self.timeout)
        if "error" in params:
            raise RuntimeError(f"authorization refused: {params['error']} {params.get('error_description', '')}")
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))


async def connect(server_url: str, *, client_id: str = CLIENT_ID, add: str = "", open_browser: bool = True,
                  timeout: float = 300) -> list[str]:
    """Runs the flow and returns the text of each tool result (add_note if asked, then list_notes)."""
    import httpx2
    from mcp.client.client import Client
    from mcp.client.streamable_http import streamable_http_client

    callback = LoopbackCallback()
    person = Person(callback, open_browser=open_browser, timeout=timeout)
    auth = public_client(server_url, client_id, callback.redirect_uri, redirect_handler=person.redirect_handler,
                         callback_handler=person.callback_handler, client_name="Notes demo connect")
    results = []
    try:
        async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
            async with Client(streamable_http_client(server_url, http_client=http)) as client:
                tools = await client.list_tools()
                print(f"Connected to {server_url}; tools: {', '.join(t.name for t in tools.tools)}", flush=True)
                calls = ([("add_note", {"text": add})] if add else []) + [("list_notes", {})]
                for name, arguments in calls:
                    result = await client.call_tool(name, arguments)
                    text = "\n".join(getattr(part, "text", "") for part in result.content)
                    if result.is_error:
                        raise RuntimeError(f"{name} failed: {text}")
                    print(f"{name}: {text}", flush=True)
                    results.append(text)
    finally:
        callback.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mcp_platform.demo.connect", description=__doc__.splitlines()[0])
    port = int(os.environ.get("DEMO_MCP_PORT", DEFAULT_PORT))
    parser.add_argument("--server", default=resource_uri(port), help="the MCP server (default: the Notes demo)")
    parser.add_argument("--client-id", default=CLIENT_ID)
    parser.add_argument("--add", default="", metavar="TEXT",
                        help="also add a note (needs notes:write: the client asks for it when the server says so)")
    parser.add_argument("--no-browser", action="store_true", default=bool(os.environ.get("MCP_CONNECT_NO_BROWSER")),
                        help="only print the authorization URL")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for the sign-in")
    args = parser.parse_args(argv)
    try:
        asyncio.run(connect(args.server, client_id=args.client_id, add=args.add, open_browser=not args.no_browser,
                            timeout=args.timeout))
    except Exception as exc:  # noqa: BLE001 (a command-line tool: say what failed, no traceback)
        while isinstance(exc, BaseExceptionGroup) and exc.exceptions:  # the SDK's task groups wrap the cause
            exc = exc.exceptions[0]
        print(f"error: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
