"""One application error type (kit/errors.py), rendered by one API handler and one console handler."""

import json

import pytest
from django.test import RequestFactory

from audit.services import AuditError
from kit.errors import ApplicationError, ApplicationErrorMiddleware, add_to_form
from mcp_registry.services import RegistryError
from oauth.errors import OAuthServiceError
from tenants.services import TenantServiceError


@pytest.mark.parametrize("error_type", [AuditError, RegistryError, OAuthServiceError, TenantServiceError])
def test_every_app_refuses_with_the_one_error_type(error_type):
    assert issubclass(error_type, ApplicationError)


def test_status_follows_the_code_unless_the_raiser_says():
    assert ApplicationError("no").status == 400
    assert ApplicationError("taken", code="duplicate").status == 409
    assert ApplicationError("not yours", code="forbidden").status == 403
    assert ApplicationError("later", code="unavailable").status == 503
    assert ApplicationError("gone", code="gone", status=410).status == 410
    body = ApplicationError("bad slug", field="slug", details={"max": 40}).as_body()
    assert body == {"error": {"code": "invalid", "message": "bad slug", "fields": {"slug": ["bad slug"]},
                              "details": {"max": 40}}}


def test_audit_refusal_answers_through_the_api_handler(world, signed_in):
    """The audit API no longer converts its errors itself: the one handler renders them."""
    response = signed_in(world.owner).post("/api/v1/audit/sinks", {"name": "siem", "url": "http://siem.example/"},
                                           content_type="application/json", HTTP_X_TENANT=world.slug)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and "https://" in error["message"] and list(error["fields"]) == ["url"]


def test_duplicate_refusal_is_a_409_in_the_api(world, signed_in):
    api = signed_in(world.owner)
    body = {"email": world.admin.email, "role": "member"}
    response = api.post("/api/v1/members", body, content_type="application/json", HTTP_X_TENANT=world.slug)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate"


def test_console_handler_renders_an_unhandled_refusal_with_its_status():
    middleware = ApplicationErrorMiddleware(lambda request: None)
    page = RequestFactory().post("/console/acme/x", HTTP_ACCEPT="text/html")
    page.tenant = None
    response = middleware.process_exception(page, ApplicationError("already there", code="duplicate"))
    assert response.status_code == 409 and b"already there" in response.content
    program = RequestFactory().post("/t/acme/x", HTTP_ACCEPT="application/json")
    response = middleware.process_exception(program, AuditError("no such sink", code="not_found", status=404))
    assert response.status_code == 404
    assert json.loads(response.content) == {"error": "not_found", "error_description": "no such sink"}
    assert middleware.process_exception(program, ValueError("not ours")) is None


def test_form_shows_the_refusal_on_its_field_or_at_the_top():
    from django import forms

    class Form(forms.Form):
        slug = forms.CharField()
        resources = forms.CharField(required=False)

    form = Form({"slug": "x"})
    assert form.is_valid()
    add_to_form(form, ApplicationError("taken", field="slug"))
    add_to_form(form, ApplicationError("unknown resource", field="allowed_resources"),
                {"allowed_resources": "resources"})
    add_to_form(form, ApplicationError("try later", field="elsewhere"))
    assert form.errors == {"slug": ["taken"], "resources": ["unknown resource"], "__all__": ["try later"]}
