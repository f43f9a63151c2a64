"""How the end-user pages' language is chosen (tenants/locale.py) and the tenant's default_language setting,
written through the console and the API and audited."""

import pytest
from django.test import Client, RequestFactory

from audit.models import AuditEvent
from tenants.locale import from_accept_language, from_preference_list, language_of
from tenants.models import Tenant


@pytest.mark.parametrize(("value", "expected"), [
    ("ja", "ja"), ("fr-CA de", "fr"), ("tlh  de-AT", "de"), ("pt-BR", None), ("", None), ("x" * 600, None),
    (" ".join(["tlh"] * 10 + ["de"]), None),  # past the first ten, nothing is looked up
])
def test_ui_locales_preference_list(value, expected):
    assert from_preference_list(value) == expected


@pytest.mark.parametrize(("header", "expected"), [
    ("de-DE,de;q=0.9,en;q=0.5", "de"), ("ko, ja;q=0.8", "ja"), ("es-419", "es"), ("*", None), ("ko", None),
    ("en;q=0.1, fr;q=0.9", "fr"), ("", None), ("fr;q=0", None),
])
def test_accept_language(header, expected):
    assert from_accept_language(header) == expected


def test_precedence_ui_locales_then_accept_language_then_tenant_then_english():
    tenant = Tenant(slug="acme", name="Acme", default_language="es")
    factory = RequestFactory()
    assert language_of(factory.get("/t/acme/login?ui_locales=ja", HTTP_ACCEPT_LANGUAGE="de"), tenant) == "ja"
    assert language_of(factory.get("/t/acme/login?ui_locales=tlh", HTTP_ACCEPT_LANGUAGE="de"), tenant) == "de"
    assert language_of(factory.get("/t/acme/login", HTTP_ACCEPT_LANGUAGE="ko"), tenant) == "es"
    assert language_of(factory.get("/t/nowhere/login", HTTP_ACCEPT_LANGUAGE="ko"), None) == "en"


@pytest.mark.django_db
def test_default_language_through_the_console_and_the_api(world, signed_in):
    console = signed_in(world.owner)
    form = {"name": world.tenant.name, "display_name": "", "logo_url": "", "accent_color": "#4f46e5",
            "default_language": "ja"}
    assert console.post(f"/console/{world.slug}/settings/", form).status_code == 302
    assert Tenant.objects.get(pk=world.tenant.pk).default_language == "ja"
    assert AuditEvent.objects.filter(tenant=world.tenant, action="tenant.updated").latest("seq").data["changed"] == [
        "default_language"]
    assert 'lang="ja"' in Client().get(f"/t/{world.slug}/login").content.decode()

    api = Client(HTTP_X_TENANT=world.slug)
    api.force_login(world.admin, backend="identity.backends.EmailBackend")
    assert api.get("/api/v1/tenant").json()["default_language"] == "ja"
    changed = api.patch("/api/v1/tenant", {"default_language": "de"}, content_type="application/json")
    assert changed.status_code == 200 and changed.json()["default_language"] == "de"
    bad = api.patch("/api/v1/tenant", {"default_language": "tlh"}, content_type="application/json")
    assert bad.status_code == 400 and "default_language" in bad.json()["error"]["fields"]
    assert Tenant.objects.get(pk=world.tenant.pk).default_language == "de"
    assert 'lang="de"' in Client().get(f"/t/{world.slug}/login").content.decode()
