"""An authenticating gateway: puts an existing, unprotected streamable-HTTP MCP server behind mcp_guard.

``Gateway`` is the proxy (an ASGI app) and ``gateway_app`` wraps it in ``GuardMiddleware``. Requests and
responses stream in both directions chunk by chunk (SSE included, nothing is buffered except the JSON-RPC
body the guard reads to check a ``tools/call``); when the caller goes away the upstream stream is closed.
The caller's ``Authorization`` header and cookies are never sent upstream; an ``IdentityAssertion``
header replaces them when configured (and any copy of it sent by the caller is dropped).
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from .assertion import IdentityAssertion
from .middleware import GuardMiddleware, current_token, send_json
from .resource import ResourceConfig

logger = logging.getLogger("mcp_guard.gateway")

HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te",
                        b"trailer", b"trailers", b"transfer-encoding", b"upgrade"})
NEVER_UPSTREAM = HOP_BY_HOP | {b"authorization", b"cookie", b"host", b"content-length", b"forwarded",
                               b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto"}
NEVER_DOWNSTREAM = HOP_BY_HOP | {b"content-length", b"set-cookie", b"www-authenticate"}


class Gateway:
    def __init__(self, upstream: str, *, identity: IdentityAssertion | None = None,
                 http: httpx.AsyncClient | None = None, connect_timeout: float = 10.0):
        self.upstream = upstream
        self.identity = identity
        # No read timeout: an SSE stream may stay quiet for minutes; the caller's disconnect ends it.
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(connect_timeout, read=None),
                                               follow_redirects=False)
        self.dropped = NEVER_UPSTREAM | ({identity.header.encode()} if identity else set())

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if scope["type"] != "http":
            return
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() not in self.dropped]
        token = current_token(scope)
        if self.identity is not None and token is not None:
            headers.append((self.identity.header.encode(), self.identity.sign(token).encode()))
        query = scope.get("query_string", b"")
        url = self.upstream + (("?" + query.decode("latin-1")) if query else "")
        request = self._http.build_request(scope["method"], url, headers=headers, content=_body(receive))
        try:
            response = await self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            logger.warning("upstream %s unreachable: %s", self.upstream, exc.__class__.__name__)
            return await send_json(send, 502, {"error": "bad_gateway",
                                               "error_description": "the upstream MCP server is unreachable"})
        try:
            await self._relay(response, receive, send)
        finally:
            await response.aclose()

    async def _relay(self, response: httpx.Response, receive, send):
        await send({"type": "http.response.start", "status": response.status_code,
                    "headers": [(k.lower(), v) for k, v in response.headers.raw if k.lower() not in NEVER_DOWNSTREAM]})

        async def pump():
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        async def disconnected():
            while (await receive())["type"] != "http.disconnect":
                pass

        tasks = [asyncio.ensure_future(pump()), asyncio.ensure_future(disconnected())]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            if task.exception() and not isinstance(task.exception(), OSError | httpx.HTTPError):
                raise task.exception()

    async def _lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._http.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _body(receive):
    """The request body as it arrives (the guard may already have read and replayed it)."""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        if message.get("body"):
            yield message["body"]
        if not message.get("more_body"):
            return


class _OnlyResourcePath:
    """The gateway answers at the resource's path (and the guard's well-known path), nowhere else."""

    def __init__(self, app, path: str):
        self.app, self.path = app, path.rstrip("/") or "/"

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and (scope["path"].rstrip("/") or "/") != self.path:
            return await send_json(send, 404, {"error": "not_found",
                                               "error_description": f"this gateway serves {self.path} only"})
        await self.app(scope, receive, send)


def gateway_app(config: ResourceConfig | None, upstream: str, *, config_url: str | None = None,
                identity_secret: str | bytes | None = None, verifier=None,
                unknown_tools: str = "refuse") -> GuardMiddleware:
    """The whole gateway: guard (PRM, challenges, token and per-tool checks) in front of the proxy."""
    if config is None:
        config = ResourceConfig.fetch(config_url)
    identity = (IdentityAssertion(identity_secret, issuer=config.resource, audience=upstream)
                if identity_secret else None)
    proxy = _OnlyResourcePath(Gateway(upstream, identity=identity), config.resource_path)
    return GuardMiddleware(proxy, config=config, verifier=verifier, unknown_tools=unknown_tools)
