"""The REST API's contract: one error body everywhere (unknown paths, wrong methods, unknown fields), the
OpenAPI document says so on every operation and documents X-Tenant, ReDoc renders offline, and the
committed document (docs/openapi.yaml) is the one the code generates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.factories import make_resource

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "docs" / "openapi.yaml"
# On PostgreSQL (production's database): integer bounds in the document follow the database's column ranges.
REGENERATE = ("DATABASE_URL=postgres://... .venv/bin/python manage.py spectacular --file docs/openapi.yaml")


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    return body["error"]


def _schema(client) -> dict:
    response = client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    return json.loads(response.content)


@pytest.mark.django_db
def test_unknown_api_paths_and_methods_answer_the_error_body_not_html(client, world, signed_in):
    for path in ("/api/", "/api/nope", "/api/v2/clients", "/api/v1/no-such-thing/", "/api/v1/clients/x/y/z"):
        assert _error(client.get(path), 404)["code"] == "not_found", path
    assert _error(client.post("/api/v1/nope", {}), 404)["code"] == "not_found"
    # A known route missing its slash is still redirected (APPEND_SLASH), not swallowed by the catch-all.
    redirected = client.get("/api/v1/schema")
    assert redirected.status_code == 301 and redirected["Location"] == "/api/v1/schema/"
    api = signed_in(world.admin)
    assert _error(api.delete("/api/v1/members", HTTP_X_TENANT=world.slug), 405)["code"] == "method_not_allowed"
    assert _error(api.put("/api/v1/clients", {}, content_type="application/json", HTTP_X_TENANT=world.slug),
                  405)["code"] == "method_not_allowed"
    assert client.get("/console/no-such-page/")["Content-Type"].startswith("text/html")  # the console keeps HTML


@pytest.mark.django_db
def test_unknown_and_read_only_fields_are_refused_with_a_field_error(world, signed_in):
    resource = make_resource(world.tenant, "https://mcp.contract.example/mcp", name="files")
    api = signed_in(world.admin)

    def post(path, body):
        return api.post(f"/api/v1/{path}", body, content_type="application/json", HTTP_X_TENANT=world.slug)

    base = {"name": "Ops bot", "client_type": "confidential", "grant_types": ["client_credentials"]}
    refused = _error(post("clients", {**base, "allowed_resources": [resource.uri]}), 400)
    assert refused["code"] == "validation_error"
    assert set(refused["fields"]) == {"allowed_resources"}
    assert "'resources'" in refused["fields"]["allowed_resources"][0]
    typo = _error(post("clients", {**base, "resource": [resource.uri]}), 400)
    assert "unknown field 'resource'" in typo["fields"]["resource"][0] and "resources" in typo["message"]
    read_only = _error(post("clients", {**base, "status": "approved"}), 400)
    assert "read-only" in read_only["fields"]["status"][0]
    from oauth.models import Application

    assert not Application.objects.filter(tenant=world.tenant, name="Ops bot").exists()  # nothing half-made
    created = post("clients", {**base, "resources": [resource.uri]})
    assert created.status_code == 201 and created.json()["allowed_resources"] == [resource.uri]
    # Partial updates and action bodies are strict too.
    client_id = created.json()["platform_client_id"]
    patched = api.patch(f"/api/v1/clients/{client_id}", {"nmae": "x"}, content_type="application/json",
                        HTTP_X_TENANT=world.slug)
    assert "nmae" in _error(patched, 400)["fields"]
    assert "why" in _error(post(f"clients/{client_id}/suspend", {"why": "x"}), 400)["fields"]
    assert "nope" in _error(post("members", {"email": "x@alpha.example", "role": "admin", "nope": 1}), 400)["fields"]


@pytest.mark.django_db
def test_every_operation_documents_the_error_body_and_tenant_operations_document_x_tenant(client):
    schema = _schema(client)
    error_ref = "#/components/schemas/Error"
    assert schema["components"]["schemas"]["Error"]["properties"]["error"]["$ref"] == \
        "#/components/schemas/ErrorDetail"
    assert set(schema["components"]["schemas"]["ErrorDetail"]["required"]) == {"code", "message"}
    operations = [(path, method, op) for path, item in schema["paths"].items() for method, op in item.items()]
    assert len(operations) > 50
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        errors = {code: r for code, r in op["responses"].items() if code.startswith(("4", "5"))}
        assert {"401", "403"} <= set(errors), where
        for code, response in errors.items():
            assert response["content"]["application/json"]["schema"]["$ref"] == error_ref, (where, code)
        if method in ("post", "put", "patch"):
            assert {"400", "409"} <= set(errors), where
        if "{" in path:
            assert "404" in errors, where
        headers = [p["name"] for p in op.get("parameters", []) if p["in"] == "header"]
        assert headers == (["X-Tenant"] if not path.startswith("/api/v1/tenants") else []), where
    assert "503" in schema["paths"]["/api/v1/resources/{id}/tool-import"]["post"]["responses"]
    # Request bodies say what the strict serializers enforce: no undeclared fields.
    client_request = schema["components"]["schemas"]["ClientRequest"]
    assert client_request["additionalProperties"] is False and "resources" in client_request["properties"]
    assert "allowed_resources" not in client_request["properties"]


def test_the_committed_openapi_document_is_the_generated_one(tmp_path):
    """Every change to the API shows up in review as a diff of docs/openapi.yaml."""
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the committed document is PostgreSQL's (SQLite's integer columns have other bounds)")

    generated = tmp_path / "openapi.yaml"
    call_command("spectacular", "--file", str(generated))
    assert COMMITTED.exists(), f"docs/openapi.yaml is missing; generate it with: {REGENERATE}"
    assert yaml.safe_load(generated.read_text()) == yaml.safe_load(COMMITTED.read_text()), (
        f"the API changed and docs/openapi.yaml is stale; regenerate it with: {REGENERATE} (and review the diff)")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_redoc_renders_the_document_offline_in_chromium(live_server, page):
    requests, problems = [], []
    page.on("requestfinished", lambda request: requests.append(request.url))  # sent and answered
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{live_server.url}/api/v1/redoc/")
    page.wait_for_selector("text=MCP Auth Platform API", timeout=20000)
    page.wait_for_selector("text=clients_create", state="attached", timeout=20000)
    # ReDoc's "powered by" logo points at its CDN: the page's CSP blocks it, so nothing leaves the machine.
    problems = [text for text in problems if not ("violates the following Content Security Policy" in text
                                                    and "Loading the image 'https://cdn.redoc" in text)]
    assert not problems, problems
    foreign = [url for url in requests if not url.startswith((live_server.url, "blob:", "data:"))]
    assert not foreign, foreign
