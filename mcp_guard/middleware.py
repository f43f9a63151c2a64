"""ASGI middleware that makes any MCP server (streamable HTTP) a protected resource.

- serves the resource's PRM (RFC 9728) at its well-known path, mirrored from the platform;
- answers requests without a token with 401 and ``WWW-Authenticate: Bearer resource_metadata=..., scope=...``
  (RFC 9728 §5.1, RFC 6750 §3), invalid tokens with 401 ``error="invalid_token"``;
- reads JSON-RPC ``tools/call`` requests and answers 403 ``error="insufficient_scope"`` with every scope
  the call needs when the token lacks one (step-up, RFC 6750 §3.1); a tool the registry does not list is
  refused with 403 ``unknown_tool`` (``unknown_tools="refuse"``, the default) or needs only a valid token
  (``unknown_tools="allow"``); a resource whose registry lists no tools at all has no per-tool scopes;
- refuses tokens in the query string (they leak into logs and Referer headers);
- hands the application the verified claims in ``scope["mcp_guard.token"]`` and removes the
  ``Authorization`` header, so the application never handles, logs or forwards the raw token.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from urllib.parse import parse_qsl

import httpx

from .errors import GuardError, TokenError, challenge
from .resource import ResourceConfig
from .verifier import TokenVerifier, VerifiedToken

logger = logging.getLogger("mcp_guard")

TOKEN_SCOPE_KEY = "mcp_guard.token"
DEFAULT_MAX_BODY = 4 * 1024 * 1024
UNKNOWN_TOOLS = ("refuse", "allow")


def current_token(scope_or_request) -> VerifiedToken | None:
    """The verified token of a request (an ASGI scope, or anything with a ``.scope``)."""
    scope = getattr(scope_or_request, "scope", scope_or_request)
    return scope.get(TOKEN_SCOPE_KEY)


async def send_json(send, status: int, body: dict | bytes, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            (b"cache-control", b"no-store"), *headers]})
    await send({"type": "http.response.body", "body": payload})


def tool_calls(body: bytes) -> list[str] | None:
    """Names of the tools a JSON-RPC message (or batch) calls; None when the body is not JSON-RPC."""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    messages = message if isinstance(message, list) else [message]
    names = []
    for item in messages:
        if isinstance(item, dict) and item.get("method") == "tools/call":
            params = item.get("params")
            name = params.get("name") if isinstance(params, dict) else None
            names.append(name if isinstance(name, str) else "")
    return names


class GuardMiddleware:
    def __init__(self, app, *, config: ResourceConfig | None = None, config_url: str | None = None,
                 verifier=None, public_paths: Iterable[str] = (), max_body_bytes: int = DEFAULT_MAX_BODY,
                 strip_authorization: bool = True, unknown_tools: str = "refuse"):
        if config is None and config_url is None:
            raise GuardError("give the resource configuration or the platform URL of its metadata (config_url)")
        if unknown_tools not in UNKNOWN_TOOLS:
            raise GuardError(f"unknown_tools must be one of {', '.join(UNKNOWN_TOOLS)}, not {unknown_tools!r}")
        # Refused by default: a tool the registry does not describe has no scope an admin chose for it, so a
        # token for this resource must not reach it just by being valid. Resources listing no tools at all
        # keep working as before (every call needs a valid token), which keeps servers not yet described in
        # the registry, and existing deployments, running.
        self.unknown_tools = unknown_tools
        self.app = app
        self.config = config
        self.config_url = config_url
        self._verifier = verifier
        self._own_verifier = False
        self.public_paths = frozenset(public_paths)
        self.max_body_bytes = max_body_bytes
        self.strip_authorization = strip_authorization
        self._client: httpx.AsyncClient | None = None

    @property
    def _http(self) -> httpx.AsyncClient:
        # Created on first use: a configuration given in full never needs one.
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=5.0, follow_redirects=False)
        return self._client

    async def _config(self) -> ResourceConfig:
        if self.config is None:
            response = await self._http.get(self.config_url, headers={"Accept": "application/json"})
            self.config = ResourceConfig._from_response(self.config_url, response)
        elif self.config.source_url:
            self.config = await self.config.refreshed(self._http)
        return self.config

    def verifier(self, config: ResourceConfig):
        # A verifier we made follows the mirrored metadata (e.g. the tenant's issuer moved to its verified
        # custom domain); one the caller passed in is the caller's to configure.
        stale = self._own_verifier and (self._verifier.issuer, self._verifier.resource) != (config.issuer,
                                                                                           config.resource)
        if self._verifier is None or stale:
            self._verifier = TokenVerifier(issuer=config.issuer, resource=config.resource)
            self._own_verifier = True
        return self._verifier

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        try:
            config = await self._config()
        except (GuardError, httpx.HTTPError) as exc:
            logger.error("mcp_guard cannot load its resource configuration: %s", exc)
            return await send_json(send, 503, {"error": "temporarily_unavailable",
                                               "error_description": "the resource's authorization settings "
                                                                    "could not be loaded"})
        path = scope.get("path", "")
        if path == config.well_known_path:
            return await self._serve_metadata(scope, send, config)
        if path in self.public_paths or scope.get("method") == "OPTIONS":
            return await self.app(scope, receive, send)
        return await self._guarded(scope, receive, send, config)

    async def _serve_metadata(self, scope, send, config: ResourceConfig):
        if scope.get("method") not in ("GET", "HEAD"):
            return await send_json(send, 405, {"error": "method_not_allowed"}, [(b"allow", b"GET, HEAD")])
        body = json.dumps(config.metadata, sort_keys=True, separators=(",", ":")).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"cache-control", f"public, max-age={int(config.max_age)}".encode()),
                                (b"access-control-allow-origin", b"*")]})
        await send({"type": "http.response.body", "body": body if scope["method"] == "GET" else b""})

    async def _refuse(self, send, config, *, status: int, error: str | None, description: str,
                      scopes: tuple[str, ...] = ()):
        header = challenge(resource_metadata=config.resource_metadata_url, scopes=scopes or config.challenge_scopes,
                           error=error, description=description if error else None)
        body = {"error": error or "unauthorized", "error_description": description}
        await send_json(send, status, body, [(b"www-authenticate", header.encode())])

    async def _guarded(self, scope, receive, send, config: ResourceConfig):
        query = scope.get("query_string", b"").decode("latin-1")
        if any(key == "access_token" for key, _ in parse_qsl(query, keep_blank_values=True)):
            return await self._refuse(send, config, status=400, error="invalid_request",
                                      description="send the access token in the Authorization header, never in "
                                                  "the URL")
        authorizations = [v for k, v in scope.get("headers", []) if k == b"authorization"]
        if len(authorizations) > 1:
            return await self._refuse(send, config, status=400, error="invalid_request",
                                      description="send exactly one Authorization header")
        raw = authorizations[0].decode("latin-1") if authorizations else ""
        scheme, _, token = raw.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return await self._refuse(send, config, status=401, error=None,
                                      description="this MCP server needs an OAuth access token")
        try:
            verified = await self.verifier(config).verify(token.strip())
        except TokenError as exc:
            return await self._refuse(send, config, status=exc.status, error=exc.error, description=exc.description)
        except GuardError as exc:
            logger.error("mcp_guard cannot verify tokens: %s", exc)
            return await send_json(send, 503, {"error": "temporarily_unavailable",
                                               "error_description": "the token issuer cannot be reached"})

        if scope.get("method") == "POST" and config.tool_scopes:
            body, receive = await self._buffer(receive)
            if body is None:
                return await send_json(send, 413, {"error": "request_too_large",
                                                   "error_description": f"bodies are limited to "
                                                                        f"{self.max_body_bytes} bytes"})
            needed = []
            for name in tool_calls(body) or []:
                if self.unknown_tools == "refuse" and name not in config.tool_scopes:
                    return await send_json(send, 403, {"error": "unknown_tool",
                                                       "error_description": f"the tool {name!r} is not in this "
                                                                            "resource's registry"})
                needed.extend(s for s in config.scopes_for_tool(name) if s not in needed)
            if needed and not verified.has_scopes(needed):
                missing = sorted(set(needed) - verified.scopes)
                return await self._refuse(send, config, status=403, error="insufficient_scope",
                                          description=f"this call needs the scope(s) {' '.join(missing)}",
                                          scopes=tuple(needed))

        scope = dict(scope)
        scope[TOKEN_SCOPE_KEY] = verified
        scope.update(_sdk_identity(verified, config.resource))
        if self.strip_authorization:
            scope["headers"] = [(k, v) for k, v in scope.get("headers", []) if k != b"authorization"]
        await self.app(scope, receive, send)

    async def _buffer(self, receive):
        """Reads the whole body (bounded) and returns it with a receive() that replays it."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None, receive
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return body, replay


_SDK_TYPES: tuple | None = None


def _sdk_identity(verified: VerifiedToken, resource: str) -> dict:
    """``user``/``auth`` scope entries in the MCP Python SDK's own types when the SDK is installed, so its
    session manager binds each MCP session to the principal that opened it (another caller presenting a
    stolen ``Mcp-Session-Id`` gets 404). Without the SDK: nothing (mcp_guard does not depend on it)."""
    global _SDK_TYPES
    if _SDK_TYPES is None:
        try:
            from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
            from mcp.server.auth.provider import AccessToken
            from starlette.authentication import AuthCredentials

            _SDK_TYPES = (AuthenticatedUser, AccessToken, AuthCredentials)
        except ImportError:
            _SDK_TYPES = ()
    if not _SDK_TYPES:
        return {}
    user_type, token_type, credentials_type = _SDK_TYPES
    scopes = sorted(verified.scopes)
    # The SDK's AccessToken wants the raw token; the application must not get it, so it gets "".
    token = token_type(token="", client_id=verified.client_id or "", scopes=scopes, expires_at=verified.expires_at,
                       resource=resource, subject=verified.subject,
                       claims={"iss": verified.issuer})
    return {"user": user_type(token), "auth": credentials_type(scopes)}


def protect(app, config_or_url, *, verifier=None, **options) -> GuardMiddleware:
    """``app = protect(mcp.streamable_http_app(), "https://<platform>/t/<tenant>/resources/<id>/protected-resource-metadata")``"""
    if isinstance(config_or_url, ResourceConfig):
        return GuardMiddleware(app, config=config_or_url, verifier=verifier, **options)
    return GuardMiddleware(app, config_url=config_or_url, verifier=verifier, **options)
