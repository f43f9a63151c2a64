"""The public documents served in front of Django (mcp_platform/documents.py) against Django's own views,
both through the platform's real ASGI app (mcp_platform.asgi): same status, body and headers (all but
Date) for every document path, tenant state and request form; and a change is visible at the next request.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from audit.services import Actor
from tests.asgi_calls import call_asgi, recorded_front
from tests.factories import make_resource

pytestmark = pytest.mark.django_db(transaction=True)  # Django's threads and the dispatch's read committed rows

ACTOR = Actor("test", "", "pytest")
DOMAIN = "auth.dom.example"


@pytest.fixture
def asgi(monkeypatch):
    """(answer through the platform's app, answer through Django alone, and who answered the first)."""
    from mcp_platform import documents

    application, django, answered, cleanup = recorded_front(monkeypatch, documents)

    def both(method, path, headers, scheme="http"):
        answered.clear()
        fast = asyncio.run(call_asgi(application, method, path, headers, scheme=scheme))
        by = answered[0] if answered else "fast"
        reference = asyncio.run(call_asgi(django, method, path, headers, scheme=scheme))
        return fast, reference, by

    yield both
    cleanup()


@pytest.fixture
def tenants(make_tenant, settings):
    from mcp_registry.models import HostingMode, MCPResource
    from mcp_registry.prm import gateway_uri
    from tenants.services import tenant_suspend

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, DOMAIN]
    acme = make_tenant("acme")
    external = make_resource(acme, "https://mcp.acme.example/mcp", name="files")
    MCPResource.objects.create(tenant=acme, name="gw", uri=gateway_uri(acme, "gw"), display_name="GW",
                               hosting_mode=HostingMode.GATEWAY, upstream_url="http://127.0.0.1:9/mcp")
    suspended = make_tenant("sus")
    make_resource(suspended, "https://mcp.sus.example/mcp", name="files")
    tenant_suspend(tenant=suspended, actor=ACTOR, reason="unpaid")
    dom = make_tenant("dom")
    dom.custom_domain, dom.custom_domain_verified = DOMAIN, True
    dom.save()
    return {"acme": acme, "external": external, "sus": suspended, "dom": dom}


def _paths(slug: str, resource_id) -> list[str]:
    return [
        f"/t/{slug}/jwks.json",
        f"/t/{slug}/.well-known/openid-configuration",
        f"/t/{slug}/.well-known/oauth-authorization-server",
        f"/.well-known/oauth-authorization-server/t/{slug}",
        f"/.well-known/openid-configuration/t/{slug}",
        f"/.well-known/oauth-protected-resource/t/{slug}/mcp/gw",
        f"/.well-known/oauth-protected-resource/t/{slug}/mcp/nothing",
        f"/t/{slug}/resources/{resource_id}/protected-resource-metadata",
    ]


ROOT_PATHS = ["/jwks.json", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]


def _assert_same(fast, reference, what):
    assert fast[0] == reference[0], what
    assert fast[2] == reference[2], what
    assert fast[1] == reference[1], what


def test_the_fast_path_answers_exactly_as_django(tenants, asgi, settings):
    base = {"host": "127.0.0.1:8000", "x-request-id": "diff-1"}
    cases = []  # (method, path, headers, scheme, answered by the dispatch?)
    for slug in ("acme", "sus", "nobody"):
        for path in _paths(slug, tenants["external"].pk):
            fast_expected = slug == "acme" and "nothing" not in path
            cases += [
                ("GET", path, base, "http", fast_expected),
                ("GET", path, {**base, "accept": "text/html"}, "http", fast_expected),
                ("GET", path, {**base, "host": "evil.example"}, "http", False),
                ("HEAD", path, base, "http", False),
                ("OPTIONS", path, {**base, "origin": "https://app.example", "access-control-request-method": "GET"},
                 "http", False),
                ("GET", path, {**base, "if-none-match": '"not-it"'}, "http", fast_expected),
            ]
    for path in ROOT_PATHS:
        cases += [("GET", path, {**base, "host": DOMAIN}, "http", True),
                  ("GET", path, {**base, "host": f"{DOMAIN}:443"}, "https", True),
                  ("GET", path, base, "http", False)]  # the platform's own host: no tenant at the root
    fast_answers = 0
    for method, path, headers, scheme, fast_expected in cases:
        fast, reference, by = asgi(method, path, headers, scheme)
        _assert_same(fast, reference, (method, path, headers))
        assert (by == "fast") == fast_expected, (method, path, headers, by)
        if fast[0] == 200 and method == "GET":
            etag = dict(fast[1])["etag"]
            for validator in (etag, f'W/{etag}', f'"x", {etag}', "*"):
                fast, reference, by = asgi(method, path, {**headers, "if-none-match": validator}, scheme)
                _assert_same(fast, reference, (path, validator))
                assert fast[0] == 304 and fast[2] == b"" and by == "fast"
            fast_answers += 1
    assert fast_answers == 3 * 7 + 2 * len(ROOT_PATHS)  # plain, Accept: text/html, another ETag

    # A verified custom domain outside ALLOWED_HOSTS is let through by Django's CustomDomainHostMiddleware;
    # the dispatch leaves it to Django (same answer, not the fast one), and an unverified one gets the 400.
    settings.ALLOWED_HOSTS = [h for h in settings.ALLOWED_HOSTS if h != DOMAIN]
    for host, status in ((DOMAIN, 200), ("auth.unverified.example", 400)):
        fast, reference, by = asgi("GET", "/jwks.json", {**base, "host": host})
        _assert_same(fast, reference, host)
        assert fast[0] == status and by == "django"

    fast, reference, by = asgi("GET", "/t/sus/jwks.json", base)
    assert fast[0] == 403 and json.loads(fast[2])["error"] == "tenant_suspended" and by == "django"

    # A secure request behind a trusted proxy (HSTS when configured: see the test below), and a TLS
    # redirect that is due is Django's to send (its middleware read the setting at start, hence no 301 here).
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    fast, reference, by = asgi("GET", "/t/acme/jwks.json", {**base, "x-forwarded-proto": "https"})
    _assert_same(fast, reference, "secure")
    assert by == "fast"
    settings.SECURE_SSL_REDIRECT = True
    fast, reference, by = asgi("GET", "/t/acme/jwks.json", base)
    _assert_same(fast, reference, "redirect")
    assert by == "django"


@pytest.mark.parametrize("seconds, subdomains, preload", [(0, False, False), (3600, False, True),
                                                          (31536000, True, True)])
def test_the_security_headers_are_django_middlewares(settings, seconds, subdomains, preload):
    """Django's middleware read these settings when the app started; built afresh here they must add what
    the dispatch adds, for a secure and a plain request."""
    from django.http import HttpResponse
    from django.middleware.clickjacking import XFrameOptionsMiddleware
    from django.middleware.security import SecurityMiddleware
    from django.test import RequestFactory

    from mcp_platform.documents import middleware_headers
    from mcp_platform.middleware import SecurityHeadersMiddleware

    settings.SECURE_HSTS_SECONDS, settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = seconds, subdomains
    settings.SECURE_HSTS_PRELOAD = preload
    chain = SecurityHeadersMiddleware(SecurityMiddleware(XFrameOptionsMiddleware(lambda request: HttpResponse())))
    for secure in (False, True):
        response = chain(RequestFactory().get("/t/acme/jwks.json", secure=secure))
        expected = {name.lower(): value for name, value in response.headers.items()
                    if name.lower() not in ("content-type",)}
        ours = {name.lower(): value for name, value in middleware_headers(secure, "id", 0)
                if name.lower() not in ("content-length", "vary", "x-request-id")}
        assert ours == expected
        assert ("strict-transport-security" in ours) == (secure and seconds > 0)


def _get(path: str, headers: dict | None = None):
    from mcp_platform import asgi as platform_asgi

    headers = {"host": "127.0.0.1:8000", **(headers or {})}
    return asyncio.run(call_asgi(platform_asgi.application, "GET", path, headers))


def test_a_change_is_served_at_the_next_request(tenants, asgi):
    """Key rotation and removal, a resource's change, a scope, a suspension: each moves the tenant's
    generation in the shared cache, so the next request (of any process) renders the document again."""
    from mcp_registry import services as registry_services
    from oauth.models import KeyState, SigningKey
    from oauth.signing import services as signing_services
    from tenants.services import tenant_reactivate, tenant_suspend

    acme = tenants["acme"]
    jwks = "/t/acme/jwks.json"
    kids = {k["kid"] for k in json.loads(_get(jwks)[2])["keys"]}
    rotated = signing_services.key_rotate(tenant=acme, actor=ACTOR)
    after = {k["kid"] for k in json.loads(_get(jwks)[2])["keys"]}
    assert rotated.kid in after and after != kids
    retired = SigningKey.objects.filter(tenant=acme, state=KeyState.RETIRED).first()
    signing_services.key_remove(key=retired, actor=ACTOR)
    assert retired.kid not in {k["kid"] for k in json.loads(_get(jwks)[2])["keys"]}

    prm_path = f"/t/acme/resources/{tenants['external'].pk}/protected-resource-metadata"
    status, headers, body = _get(prm_path)
    etag = dict(headers)["etag"]
    assert _get(prm_path, {"if-none-match": etag})[0] == 304
    registry_services.resource_update(resource=tenants["external"], actor=ACTOR, display_name="Renamed files")
    status, headers, body = _get(prm_path, {"if-none-match": etag})
    assert status == 200 and json.loads(body)["resource_name"] == "Renamed files" and dict(headers)["etag"] != etag

    metadata = "/.well-known/oauth-authorization-server/t/acme"
    assert "files:extra" not in json.loads(_get(metadata)[2])["scopes_supported"]
    registry_services.scope_save(resource=tenants["external"], actor=ACTOR, name="files:extra",
                                 description="More", granted_by_default=False)
    assert "files:extra" in json.loads(_get(metadata)[2])["scopes_supported"]

    tenant_suspend(tenant=acme, actor=ACTOR, reason="paused")
    assert _get(metadata)[0] == 403
    tenant_reactivate(tenant=acme, actor=ACTOR)
    assert _get(metadata)[0] == 200
