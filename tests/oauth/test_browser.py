"""Chromium signs in on the tenant page and consents through the real pages (CSP on, no inline code)."""

from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from django.test import Client

from tests.factories import PASSWORD, make_client, make_resource
from tests.oauth.flows import authorize_url, pkce_pair


@pytest.mark.django_db(transaction=True)
def test_chromium_signs_in_and_consents(page, live_public_url, make_world):
    world = make_world("acme")
    resource = make_resource(world.tenant, "https://mcp.acme.example/mcp", name="files")
    callback = f"{live_public_url}/healthz"  # any page of ours: the browser only has to land there
    app, _ = make_client(world.tenant, resources=[resource], redirect_uris=[callback], name="Browser App")
    verifier, challenge = pkce_pair()
    console_errors = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)

    page.goto(live_public_url + authorize_url(world.tenant, app, resource=resource.uri, challenge=challenge,
                                              redirect_uri=callback, scope="tools:read"))
    assert "/t/acme/login" in page.url
    page.fill("input[name=username]", world.member.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Allow Browser App?")
    assert page.locator(".redirect-host").inner_text() == urlsplit(live_public_url).netloc
    assert "Read tools" in page.content()
    page.click("button[value=allow]")
    page.wait_for_url(f"{callback}?*")
    params = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert params["iss"] == world.tenant.issuer and params["state"] == "st4te"
    assert not [e for e in console_errors if "Content Security Policy" in e]

    token = Client().post("/t/acme/token", {"grant_type": "authorization_code", "code": params["code"],
                                            "redirect_uri": callback, "client_id": app.client_id,
                                            "code_verifier": verifier})
    assert token.status_code == 200, token.content
    claims = jwt.decode(token.json()["access_token"], options={"verify_signature": False})
    assert claims["aud"] == resource.uri and claims["sub"] == str(world.member.pk)
