"""The public documents answered in front of Django: every tenant's JWKS, its RFC 8414 / OIDC metadata
at each path README "Authorization server" names, and the PRM of its resources.

A document is rendered into bytes with an ETag once per tenant generation (kit/documents.py;
kit/tenant_cache.py says how every change of a tenant's configuration moves the generation, in Redis or the
embedded shared cache, so every process sees a key rotation at its next request). Django's views serve the
same bytes through the same ``answer``; this dispatch adds what the middleware stack adds to them (request
id, security headers, Content-Length, the access log line and the request counter) and skips the rest
(sessions, CSRF, auth, messages), which these anonymous GETs never use.

It answers only what it is sure of: a GET to a known, active tenant's existing document on an allowed host.
Anything else (HEAD, OPTIONS, an unknown or suspended tenant, a bad Host, a TLS redirect due) goes on to
Django, which answers it as it always has; tests/platform/test_fast_documents.py holds the two side by side.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections
from django.http.request import split_domain_port, validate_host

from audit.context import RequestContext, bind_request_context, reset_request_context
from audit.middleware import request_id_of
from kit import documents
from kit.tenancy import bind_tenant, unbind_tenant
from kit.tenant_cache import generation_scope
from tenants import resolver

from .logging import access_log
from .metrics import REQUESTS
from .proxy import client_address

log = logging.getLogger(__name__)

_SLUG = r"(?P<slug>[^/]+)"
_METADATA = r"(?:openid-configuration|oauth-authorization-server)"
# (kind, pattern) in the order Django's URLconf would match them; ``arg`` names the resource.
ROUTES = [
    ("metadata", re.compile(rf"^/\.well-known/{_METADATA}/t/{_SLUG}$")),
    ("jwks", re.compile(rf"^/t/{_SLUG}/jwks\.json$")),
    ("metadata", re.compile(rf"^/t/{_SLUG}/\.well-known/{_METADATA}$")),
    ("prm-gateway", re.compile(rf"^/\.well-known/oauth-protected-resource/t/{_SLUG}/mcp/(?P<arg>[-a-zA-Z0-9_]+)$")),
    ("prm-mirror", re.compile(rf"^/t/{_SLUG}/resources/(?P<arg>[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-"
                              rf"[0-9a-f]{{4}}-[0-9a-f]{{12}})/protected-resource-metadata$")),
    # the issuer's own paths on a verified custom domain (the tenant comes from the Host)
    ("jwks", re.compile(r"^/jwks\.json$")),
    ("metadata", re.compile(rf"^/\.well-known/{_METADATA}$")),
]

# Thread calls of the lookups (one Redis read when warm); each thread keeps its database connection.
_threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="documents")


def route(path: str) -> tuple[str, str | None] | None:
    for kind, pattern in ROUTES:
        match = pattern.match(path)
        if match:
            return kind, match.groupdict().get("arg")
    return None


def document_for(kind: str, arg: str | None, path: str, host: str) -> documents.Document | None:
    """The rendered document, or None when Django should answer (no such tenant or resource, suspended)."""
    from mcp_registry import prm
    from oauth.protocol.endpoints.discovery import metadata_document
    from oauth.protocol.endpoints.jwks import jwks_document

    close_old_connections()  # what Django does at each request: a broken or expired connection is replaced
    with generation_scope():
        try:
            found = resolver.resolve(resolver.Call(path=path, host=lambda: host), resolver.PUBLIC)
        except resolver.TenantRefused:
            return None
        if found is None:
            return None
        tenant = found.tenant
        token = bind_tenant(tenant)
        try:
            if kind == "jwks":
                return jwks_document(tenant)
            if kind == "metadata":
                return metadata_document(tenant)
            if kind == "prm-gateway":
                return prm.gateway_document(tenant, arg)
            return prm.mirror_document(tenant, uuid.UUID(arg))
        finally:
            unbind_tenant(token)


def _headers(scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        name, value = name.decode("latin-1").lower(), value.decode("latin-1")
        found[name] = f"{found[name]},{value}" if name in found else value  # as WSGI joins them
    return found


def _valid_host(headers: dict[str, str]) -> str | None:
    """The Host header if Django's ``get_host`` would accept it (else Django answers its 400)."""
    host = headers.get("host")
    if not host or settings.USE_X_FORWARDED_HOST:
        return None
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    domain, _port = split_domain_port(host)
    return host if domain and validate_host(domain, allowed) else None


def _is_secure(scope, headers: dict[str, str]) -> bool:
    """Django's ``request.is_secure()`` for this request."""
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        header, secure_value = proxy_header
        value = headers.get(header.removeprefix("HTTP_").replace("_", "-").lower())
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return scope.get("scheme") == "https"


def middleware_headers(secure: bool, request_id: str, content_length: int) -> list[tuple[str, str]]:
    """What Django's middleware stack adds to these views' answers (mcp_platform/settings.py MIDDLEWARE)."""
    headers = [
        ("Content-Length", str(content_length)),  # CommonMiddleware
        # SessionMiddleware: identity's session-binding middleware reads the session of every request
        ("Vary", "Cookie"),
    ]
    if secure and settings.SECURE_HSTS_SECONDS:  # SecurityMiddleware
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers.append(("Strict-Transport-Security", hsts))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        headers.append(("Referrer-Policy", policy if isinstance(policy, str) else ",".join(policy)))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    headers.append(("X-Frame-Options", settings.X_FRAME_OPTIONS))  # XFrameOptionsMiddleware
    headers.append(("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY))  # SecurityHeadersMiddleware
    headers.append(("X-Request-ID", request_id))  # RequestContextMiddleware
    return headers


async def serve(scope, send) -> bool:
    """Answers the request and returns True, or returns False having sent nothing (Django answers)."""
    if scope.get("method") != "GET" or scope.get("root_path"):
        return False
    path = scope.get("path", "")
    found = route(path)
    if found is None:
        return False
    headers = _headers(scope)
    host = _valid_host(headers)
    secure = _is_secure(scope, headers)
    if host is None or (settings.SECURE_SSL_REDIRECT and not secure):
        return False
    started = time.perf_counter()
    try:
        document = await asyncio.get_running_loop().run_in_executor(_threads, document_for, *found, path, host)
    except Exception:  # Django answers, and reports it as it does
        log.exception("fast document dispatch failed for %s; Django answers", path)
        return False
    if document is None:
        return False
    status, response_headers, body = documents.answer(document, headers.get("if-none-match", ""))
    request_id = request_id_of(headers.get("x-request-id", ""))
    response_headers += middleware_headers(secure, request_id, len(body))
    await send({"type": "http.response.start", "status": status,
                "headers": [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in response_headers]})
    await send({"type": "http.response.body", "body": body})
    record_answer(scope, headers, status, request_id, started)
    return True


def remote_address(scope, headers: dict[str, str]) -> str:
    """Django's REMOTE_ADDR for this request (mcp_platform.proxy.ForwardedForMiddleware)."""
    return client_address({"HTTP_X_FORWARDED_FOR": headers.get("x-forwarded-for", "")}) \
        or (scope.get("client") or ("",))[0]


def record_answer(scope, headers: dict[str, str], status: int, request_id: str, started: float) -> None:
    """The request counter and the access log line, as Django's middleware writes them (also for the lean
    protocol path, mcp_platform/protocol.py)."""
    method, path = scope.get("method", ""), scope.get("path", "")
    REQUESTS.labels(method, str(status)).inc()
    if access_log.isEnabledFor(logging.INFO):
        remote = remote_address(scope, headers)
        token = bind_request_context(RequestContext(request_id=request_id, ip=remote))
        try:
            access_log.info("%s %s %s", method, path, status, extra={
                "http": {"method": method, "path": path, "status": status,
                         "duration_ms": round(1000 * (time.perf_counter() - started), 2), "remote": remote}})
        finally:
            reset_request_context(token)
