"""The tenant of a request from its path (/t/<slug>/, also after /.well-known/<name>) or a verified
custom domain (tenants/resolver.py), onto ``request.tenant`` and the tenant ContextVar; and the host check
that lets verified custom domains in."""

from __future__ import annotations

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from kit.errors import error_page, wants_json
from kit.tenancy import bind_tenant, request_code, unbind_tenant

from . import resolver, selectors
from .locale import page_language


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


class TenantMiddleware:
    """Binds the tenant the path or a verified custom domain names (tenants/resolver.py, ``PUBLIC``) for
    the whole request; an unknown or suspended tenant is answered here."""

    def __init__(self, get_response):
        self.get_response = get_response
        # Requests to the platform's own host never look up custom domains (no query per request).
        self.platform_hosts = resolver.platform_hosts()

    def __call__(self, request):
        request.tenant = None
        try:
            found = resolver.resolve(resolver.Call.of(request, own_hosts=self.platform_hosts), resolver.PUBLIC)
        except resolver.TenantRefused as refused:
            if wants_json(request):  # error_description stays English (ASCII, RFC 6749 §5.2)
                return error_page(request, refused.status, refused.code, refused.message, refused.tenant)
            with page_language(request, refused.tenant):
                return error_page(request, refused.status, refused.code, refused.localized(), refused.tenant)
        tenant = request.tenant = found.tenant if found else None
        token = bind_tenant(tenant)
        try:
            with request_code():  # from here on an unbound tenant-owned query raises (kit/tenant_owned.py)
                return self.get_response(request)
        finally:
            unbind_tenant(token)
