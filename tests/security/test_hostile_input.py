"""Hostile input the December review turned into 500s (issue 16, item 18): each is now a clear 4xx.

- a lone surrogate or a NUL in a DCR redirect URI (and anywhere else in a JSON body);
- ``/t/%00/`` (a NUL where the tenant slug goes);
- audit date filters without a time zone (``since=2026-12-01``) on the API, the console and exports;
- deeply nested JSON on every write endpoint of the REST API, enumerated from the OpenAPI document, and
  a check that every API view in the URL conf parses JSON with the one bounded parser.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.factories import make_agent, make_client, make_resource
from tests.oauth.flows import client_credentials

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"name": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"


@pytest.fixture
def admin_api(world, client):
    from oauth.models import ADMIN_SCOPES, api_audience

    agent, secret = make_agent(world.tenant, scopes=list(ADMIN_SCOPES), name="Ops bot")
    answer = client_credentials(client, world.tenant, agent, secret, resource=api_audience())
    assert answer.status_code == 200, answer.content
    return {"HTTP_AUTHORIZATION": f"Bearer {answer.json()['access_token']}"}


def _register(http, tenant, raw: str):
    return http.post(f"/t/{tenant.slug}/register", data=raw, content_type="application/json",
                     REMOTE_ADDR="203.0.113.7")


@pytest.mark.parametrize("uri", ["http://127.0.0.1:33418/cb\ud800", "http://127.0.0.1:33418/c\x00b",
                                 "https://app.example/\udfff/cb"])
def test_dcr_redirect_uri_with_a_lone_surrogate_or_nul_is_invalid_metadata(world, client, uri):
    body = json.dumps({"client_name": "x", "redirect_uris": [uri], "token_endpoint_auth_method": "none"})
    response = _register(client, world.tenant, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"] in ("invalid_client_metadata", "invalid_redirect_uri")


def test_dcr_lone_surrogate_in_any_field_is_refused(world, client):
    response = _register(client, world.tenant, json.dumps({"client_name": "\ud83d",
                                                           "redirect_uris": ["http://127.0.0.1:1/cb"]}))
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_client_metadata"


def test_dcr_deeply_nested_json_is_invalid_metadata(world, client):
    response = _register(client, world.tenant, DEEP_OBJECT)
    assert response.status_code == 400, response.content
    assert "nested" in response.json()["error_description"]


def test_redirect_uri_with_control_characters_is_refused_by_the_admin_api_too(world, client, admin_api):
    response = client.post("/api/v1/clients", json.dumps({"name": "x", "client_type": "public",
                                                          "redirect_uris": ["http://127.0.0.1:1/c\x01b"]}),
                           content_type="application/json", **admin_api)
    assert response.status_code == 400, response.content


@pytest.mark.parametrize("path", ["/t/%00/", "/t/%00/token", "/t/%00/.well-known/oauth-authorization-server",
                                  "/.well-known/oauth-authorization-server/t/%00", "/t/a%00b/authorize",
                                  "/t/%ED%A0%80/"])
def test_tenant_path_with_nul_or_garbage_is_not_found(client, path):
    response = client.get(path)
    assert response.status_code == 404, (path, response.status_code)


@pytest.mark.parametrize("param", ["since", "until"])
@pytest.mark.parametrize("value", ["2026-12-01", "2026-12-01T10:00:00", "2026-12-01 10:00"])
def test_audit_date_filters_without_a_time_zone_mean_utc(world, client, admin_api, signed_in, param, value):
    api = client.get("/api/v1/audit/events", {param: value}, **admin_api)
    assert api.status_code == 200, api.content
    browser = signed_in(world.admin)
    page = browser.get(f"/console/{world.slug}/audit/", {param: value})
    assert page.status_code == 200
    download = browser.get(f"/console/{world.slug}/audit/export.jsonl", {param: value})
    assert download.status_code == 200


def test_audit_filter_since_a_day_selects_from_midnight_utc(world, client, admin_api):
    from datetime import UTC, datetime

    from audit.selectors import parse_time

    assert parse_time("since", "2026-12-01") == datetime(2026, 12, 1, tzinfo=UTC)
    assert client.get("/api/v1/audit/events", {"since": "2999-01-01"}, **admin_api).json()["results"] == []


# --- Deeply nested JSON on every write endpoint -------------------------------------------------------

def _api_views():
    """Every DRF view class reachable in the URL conf."""
    from rest_framework.views import APIView

    found, stack = set(), [get_resolver()]
    while stack:
        entry = stack.pop()
        if isinstance(entry, URLResolver):
            stack.extend(entry.url_patterns)
        elif isinstance(entry, URLPattern):
            view = getattr(entry.callback, "cls", None) or getattr(entry.callback, "view_class", None)
            if isinstance(view, type) and issubclass(view, APIView):
                found.add(view)
    return found


def test_every_api_view_parses_json_with_the_bounded_parser():
    from rest_framework.parsers import JSONParser

    from tenants.api.parsers import BoundedJSONParser

    views = _api_views()
    assert len(views) > 20, views
    unbounded = sorted(f"{view.__module__}.{view.__name__}" for view in views
                       for parser in view.parser_classes
                       if issubclass(parser, JSONParser) and not issubclass(parser, BoundedJSONParser))
    assert not unbounded, unbounded


def _write_operations():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [(method.upper(), path) for path, operations in schema["paths"].items()
            for method in operations if method in ("post", "put", "patch")]


def test_deeply_nested_json_is_a_400_on_every_write_endpoint(world, client, admin_api):
    resource = make_resource(world.tenant, "https://mcp.acme.example/mcp", name="files")
    app, _ = make_client(world.tenant, resources=[resource])
    from tenants.models import Membership

    membership = Membership.objects.get(tenant=world.tenant, user=world.member)
    real = {"{id}": str(resource.pk), "{client_id}": app.client_id, "{slug}": world.slug}
    operations = _write_operations()
    assert len(operations) >= 37, operations
    failures, parsed = [], 0
    for method, path in operations:
        url = path
        for marker, value in real.items():
            url = url.replace(marker, value)
        if "/members/" in path:
            url = path.replace("{id}", str(membership.pk))
        url = url.replace("{kid}", "nokid").replace("{scope_name}", "x").replace("{tool_name}", "x")
        if "{" in url:
            url = url.split("{")[0] + str(uuid.uuid4()) + url.split("}", 1)[1]
        for body in (DEEP, DEEP_OBJECT):
            response = client.generic(method, url, body, content_type="application/json", **admin_api)
            if response.status_code >= 500:
                failures.append(f"{method} {url}: {response.status_code}")
            elif response.status_code == 400 and "nested" in response.content.decode():
                parsed += 1
                assert response.json()["error"]["code"] == "parse_error" or response.json()["error"]["message"]
    assert not failures, failures
    # Most endpoints reach the parser with these ids (the rest answer 404 before reading the body).
    assert parsed >= 2 * 20, parsed
