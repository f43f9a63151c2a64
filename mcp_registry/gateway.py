"""Gateway-mode resources served by the platform's ASGI app at ``/t/<slug>/mcp/<name>``.

Each request finds its resource in the registry, then runs mcp_guard exactly as an external server would:
the PRM, scopes and tool map come from the same ``prm_document`` the platform publishes, tokens are
verified against the tenant issuer's published JWKS (over HTTP, as any resource server does: the
registry does not reach into the authorization server's keys), and the request is streamed to the
upstream without the caller's token.
"""

from __future__ import annotations

import re
import time

import httpx
from asgiref.sync import sync_to_async

from kit import egress
from mcp_guard import GuardMiddleware, ResourceConfig, TokenVerifier
from mcp_guard.assertion import IdentityAssertion
from mcp_guard.gateway import Gateway
from mcp_guard.middleware import send_json

from . import prm

GATEWAY_PATH = re.compile(r"^/t/(?P<slug>[a-z0-9-]{1,40})/mcp/(?P<name>[-a-zA-Z0-9_]{1,60})/?$")


def _load(slug: str, name: str):
    from django.db import connection

    from kit.tenancy import tenant_context
    from tenants.selectors import tenant_by_slug

    from .selectors import active_gateway_resource
    from .services import gateway_identity_secret

    try:
        tenant = tenant_by_slug(slug)
        if tenant is None or not tenant.is_active:
            return None, None
        with tenant_context(tenant):
            resource = active_gateway_resource(tenant, name)
            if resource is None:
                return None, None
            return resource, (prm.prm_document(resource, mirror=True), gateway_identity_secret(resource))
    finally:
        # This runs on an executor thread outside Django's request cycle, which would otherwise keep
        # the thread's connection open forever; a lookup a minute per resource can afford a new one.
        connection.close()


def upstream_proxy(upstream: str, *, identity: IdentityAssertion | None = None) -> Gateway:
    """The proxy to a tenant's upstream. Its connections go through the egress guard (the upstream URL
    is the tenant's choice): no read timeout, as SSE streams may stay quiet for minutes."""
    http = egress.async_client(egress.policy(), timeout=httpx.Timeout(10.0, read=None))
    return Gateway(upstream, identity=identity, http=http)


class PlatformGateway:
    """One guard per resource, rebuilt when the resource's document changes (checked at most every
    ``prm.CACHE_MAX_AGE`` seconds, the same delay a client's cached PRM has); verifiers and upstream
    clients are kept across rebuilds so JWKS and connections are reused. With an identity secret set, the
    upstream gets a signed X-MCP-Identity assertion instead of the caller's token."""

    def __init__(self, recheck_seconds: float = prm.CACHE_MAX_AGE):
        self.recheck_seconds = recheck_seconds
        self._guards: dict[str, tuple[float, dict, GuardMiddleware]] = {}
        self._verifiers: dict[tuple[str, str], TokenVerifier] = {}
        self._upstreams: dict[tuple, Gateway] = {}

    async def __call__(self, scope, receive, send):
        match = GATEWAY_PATH.match(scope["path"])
        if match is None:
            return await send_json(send, 404, {"error": "not_found"})
        key = f"{match['slug']}/{match['name']}"
        cached = self._guards.get(key)
        if cached is None or time.monotonic() - cached[0] > self.recheck_seconds:
            resource, settings = await sync_to_async(_load, thread_sensitive=False)(match["slug"], match["name"])
            if resource is None:
                self._guards.pop(key, None)
                return await send_json(send, 404, {"error": "not_found", "error_description":
                                                   f"no active gateway resource at {scope['path'][:120]}"})
            if cached is not None and cached[1] == (settings, resource.upstream_url):
                guard = cached[2]
            else:
                guard = self._guard(*settings, resource.upstream_url)
            cached = (time.monotonic(), (settings, resource.upstream_url), guard)
            self._guards[key] = cached
        await cached[2](scope, receive, send)

    def _guard(self, document: dict, identity_secret: str, upstream: str) -> GuardMiddleware:
        config = ResourceConfig.from_document(document, max_age=self.recheck_seconds)
        verifier = self._verifiers.get((config.issuer, config.resource))
        if verifier is None:
            verifier = self._verifiers[(config.issuer, config.resource)] = TokenVerifier(
                issuer=config.issuer, resource=config.resource)
        identity = (IdentityAssertion(identity_secret, issuer=config.resource, audience=upstream)
                    if identity_secret else None)
        key = (upstream, config.resource, identity_secret)
        proxy = self._upstreams.get(key)
        if proxy is None:
            proxy = self._upstreams[key] = upstream_proxy(upstream, identity=identity)
        return GuardMiddleware(proxy, config=config, verifier=verifier)
