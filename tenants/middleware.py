"""Resolves the tenant of a request from its path (/t/<slug>/, also after /.well-known/<name>) or a
verified custom domain, onto ``request.tenant`` and the tenant ContextVar."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from kit.errors import error_page
from kit.tenancy import bind_tenant, unbind_tenant

from . import selectors

# /t/acme/..., and RFC 8414 / RFC 9728 path insertion: /.well-known/<document>/t/acme/...
TENANT_PATH = re.compile(r"^(?:/\.well-known/[a-z0-9-]+)?/t/(?P<slug>[^/]+)(?:/|$)")


class CustomDomainHostMiddleware:
    """Lets a verified custom domain through Django's host check, read live from the database.

    ``ALLOWED_HOSTS`` stays the operator's fixed list; a Host outside it is accepted only when a tenant has
    verified that exact name (tenants.selectors.tenant_by_domain: one indexed query, no cache, so a domain
    verified or dropped by any process counts at the next request, without a restart). Anything else still
    gets Django's 400 (DisallowedHost) from the first ``get_host()``. Placed before every middleware that
    reads the host."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raw = request._get_raw_host()
        domain, _port = split_domain_port(raw)
        if domain and not validate_host(domain, settings.ALLOWED_HOSTS):
            tenant = selectors.tenant_by_domain(domain)
            if tenant is not None:
                request.custom_domain_tenant = tenant
                request.get_host = lambda: raw  # this request's host is known good: the verified name
        return self.get_response(request)


def platform_hosts() -> set[str]:
    """Hosts that are the platform's own: requests to them never look up custom domains."""
    return {urlsplit(settings.PUBLIC_URL).hostname, "127.0.0.1", "localhost", "testserver"}


def resolve_tenant(path_info: str, host_of, own_hosts: set[str], domain_tenant=None):
    """(tenant, None), (None, unknown slug) or (None, None) for a request to ``path_info``: the slug in
    the path wins; else a verified custom domain (``host_of()``: the validated Host header, with port).
    ``domain_tenant``: the tenant of the Host already looked up (CustomDomainHostMiddleware). The tenant
    middleware and the fast document dispatch (mcp_platform/documents.py) both ask this."""
    match = TENANT_PATH.match(path_info)
    if match:
        slug = match.group("slug")
        tenant = selectors.tenant_by_slug(slug)
        return (tenant, None) if tenant is not None else (None, slug)
    host = host_of().rsplit(":", 1)[0]
    if host and host not in own_hosts:
        return domain_tenant or selectors.tenant_by_domain(host), None
    return None, None


class TenantMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        # Requests to the platform's own host never look up custom domains (no query per request).
        self.platform_hosts = platform_hosts()

    def __call__(self, request):
        request.tenant = None
        tenant, unknown_slug = resolve_tenant(
            request.path_info, lambda: request.get_host() if request.META.get("HTTP_HOST") else "",
            self.platform_hosts, getattr(request, "custom_domain_tenant", None))
        if unknown_slug is not None:
            return error_page(request, 404, "unknown_tenant", f"There is no tenant '{unknown_slug[:40]}' here.")
        if tenant is not None and not tenant.is_active:
            return error_page(request, 403, "tenant_suspended",
                                f"Tenant '{tenant.slug}' is suspended: {tenant.suspended_reason}", tenant)
        request.tenant = tenant
        token = bind_tenant(tenant)
        try:
            return self.get_response(request)
        finally:
            unbind_tenant(token)
