"""The consent page speaks the person's language (issue 20, Done when 3): ``ui_locales`` from the authorization
request first, kept through sign-in; then ``Accept-Language``; then the tenant's default language."""

from urllib.parse import parse_qs, urlsplit

import pytest

from tenants.locale import SESSION_KEY
from tests.conftest import PASSWORD

from .factories import authorize_url, make_client, make_resource, pkce_pair


@pytest.fixture
def app(world, resource):
    client, _ = make_client(world.tenant, resources=[resource], name="Claude Desktop")
    return client


def consent_url(world, app, resource, **extra):
    _verifier, challenge = pkce_pair()
    return authorize_url(world.tenant, app, resource=resource.uri, challenge=challenge, scope="tools:read", **extra)


def test_accept_language_de_gives_the_german_consent_page(signed_in, world, app, resource):
    page = signed_in(world.member).get(consent_url(world, app, resource),
                                       HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5")
    body = page.content.decode()
    assert page.status_code == 200
    assert '<html lang="de">' in body and page["Content-Language"] == "de"
    assert '<span class="client-name">Claude Desktop</span> erlauben?' in body
    assert ">Erlauben</button>" in body and ">Ablehnen</button>" in body
    assert "Allow" not in body.replace('value="allow"', "")  # nothing left in English
    assert "Accept-Language" in page["Vary"]


def test_ui_locales_ja_beats_accept_language(signed_in, world, app, resource):
    page = signed_in(world.member).get(consent_url(world, app, resource, ui_locales="tlh ja-JP en"),
                                       HTTP_ACCEPT_LANGUAGE="de")
    body = page.content.decode()
    assert '<html lang="ja">' in body
    assert '<span class="client-name">Claude Desktop</span> を許可しますか?' in body and ">許可</button>" in body


def test_the_tenant_default_language_when_the_browser_names_none_we_speak(signed_in, world, app, resource):
    world.tenant.default_language = "fr"
    world.tenant.save(update_fields=["default_language"])
    http = signed_in(world.member)

    def html_lang(**headers):
        return http.get(consent_url(world, app, resource), **headers).content.decode().split(">", 2)[1]

    assert html_lang(HTTP_ACCEPT_LANGUAGE="ko, *") == '\n<html lang="fr"'
    assert html_lang(HTTP_ACCEPT_LANGUAGE="es-MX") == '\n<html lang="es"'
    world.tenant.default_language = "en"
    world.tenant.save(update_fields=["default_language"])
    assert html_lang() == '\n<html lang="en"'


def test_ui_locales_lasts_for_one_authorization_request_only(signed_in, world, app, resource):
    http = signed_in(world.member)
    http.get(consent_url(world, app, resource, ui_locales="es"))
    assert http.session[SESSION_KEY] == "es"
    page = http.get(f"/t/{world.slug}/account/apps")  # same flow, another page: still Spanish
    assert '<html lang="es">' in page.content.decode()
    page = http.get(consent_url(world, app, resource))  # the next authorization request names none
    assert '<html lang="en">' in page.content.decode() and SESSION_KEY not in http.session
    assert '<html lang="en">' in http.get(f"/t/{world.slug}/account/apps").content.decode()


def test_the_console_and_protocol_errors_stay_english(client, world):
    login = client.get("/login", HTTP_ACCEPT_LANGUAGE="de")
    assert '<html lang="en">' in login.content.decode() and "Content-Language" not in login
    json_error = client.get("/t/nowhere/token", HTTP_ACCEPT_LANGUAGE="ja")
    assert json_error.json()["error_description"] == "There is no tenant 'nowhere' here."
    page = client.get("/t/nowhere/login", HTTP_ACCEPT_LANGUAGE="ja", HTTP_ACCEPT="text/html")
    assert page.status_code == 404 and "ここに組織「nowhere」はありません。" in page.content.decode()


def test_discovery_advertises_the_languages(client, world):
    metadata = client.get(f"/.well-known/openid-configuration/t/{world.slug}").json()
    assert metadata["ui_locales_supported"] == ["en", "de", "fr", "es", "ja"]


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_chromium_in_german_follows_ui_locales_ja_through_sign_in_and_consent(browser, live_public_url, make_world):
    """A German browser (Accept-Language de-DE) starts an authorization with ui_locales=ja: the sign-in page
    and the consent page are Japanese, and the flow completes."""
    world = make_world("nihon")
    resource = make_resource(world.tenant, "https://mcp.nihon.example/mcp", name="files")
    callback = f"{live_public_url}/healthz"
    app, _ = make_client(world.tenant, resources=[resource], redirect_uris=[callback], name="Browser App")
    _verifier, challenge = pkce_pair()
    context = browser.new_context(locale="de-DE")
    try:
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(live_public_url + authorize_url(world.tenant, app, resource=resource.uri, challenge=challenge,
                                                  redirect_uri=callback, scope="tools:read", ui_locales="ja"))
        assert "/t/nihon/login" in page.url
        assert page.locator("html").get_attribute("lang") == "ja"
        assert page.locator("h1").inner_text() == "Nihon にサインイン"
        assert page.locator("label[for=id_password]").inner_text().startswith("パスワード")
        page.fill("input[name=username]", world.member.email)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("text=Browser App を許可しますか?")
        assert page.locator("html").get_attribute("lang") == "ja"
        assert page.locator("button[value=allow]").inner_text() == "許可"
        page.click("button[value=allow]")
        page.wait_for_url(f"{callback}?*")
        assert "code" in parse_qs(urlsplit(page.url).query)

        # The same German browser without ui_locales: German, from Accept-Language.
        _verifier, challenge = pkce_pair()
        page.goto(live_public_url + authorize_url(world.tenant, app, resource=resource.uri, challenge=challenge,
                                                  redirect_uri=callback, scope="tools:read tools:write"))
        page.wait_for_selector("text=Browser App erlauben?")
        assert page.locator("html").get_attribute("lang") == "de"
    finally:
        context.close()
