"""Chromium through the real pages: an admin pre-registers a client and rotates keys in the console; a
person signs in at the tenant, sees who is asking on the consent page, allows, and the client redeems the
code; the admin then finds and revokes that grant."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest

from oauth.models import AccessToken, Application, Consent
from tests.factories import PASSWORD
from tests.oauth.flows import pkce_pair

from .peers import REDIRECT_URI, query_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_registers_a_client_in_the_console_and_a_person_consents_in_chromium(
        live_public_url, page, browser, two_tenants, no_persistent_db_connections):
    from mcp_registry import services as registry
    from tests.factories import ACTOR

    a, _ = two_tenants
    resource = registry.resource_create(tenant=a.tenant, actor=ACTOR, name="files", uri="https://files.alpha.example/mcp",
                                        scopes=[{"name": "files:read", "description": "Read your files"}])
    page.on("dialog", lambda dialog: dialog.accept())  # the console confirms destructive actions

    # The admin pre-registers a public client and rotates the tenant's signing key.
    page.goto(f"{live_public_url}/login")
    page.fill("input[name=username]", a.admin.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_public_url}/console/alpha/")
    page.click(".sidenav >> text=Clients & approvals")
    form = page.locator("#create-client")
    form.locator("input[name=name]").fill("Chromium Desktop")
    form.locator("select[name=client_type]").select_option("public")
    form.locator("textarea[name=redirect_uris]").fill(REDIRECT_URI)
    form.locator(f"input[name=resources][value='{resource.pk}']").check()
    form.locator("button[type=submit]").click()
    client_id = page.locator("#client-created .client-id").inner_text()
    assert Application.objects.unscoped().get(client_id=client_id).name == "Chromium Desktop"
    page.click(".sidenav >> text=Keys")
    active_before = page.locator("tr[data-state=active]").get_attribute("data-kid")
    page.click("#rotate-key button[type=submit]")
    assert "Rotated:" in page.locator(".messages").inner_text()
    assert page.locator(f"tr[data-kid='{active_before}']").get_attribute("data-state") == "retired"

    # A person, in their own browser, is sent to the tenant by the client, signs in and consents.
    person = browser.new_context()
    try:
        tab = person.new_page()
        tab.set_default_timeout(15000)
        tab.route("http://127.0.0.1:33418/**", lambda route: route.fulfill(status=200, body="back at the client"))
        verifier, challenge = pkce_pair()
        tab.goto(f"{a.tenant.issuer}/authorize?" + urlencode({
            "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI, "state": "xyz",
            "code_challenge": challenge, "code_challenge_method": "S256", "resource": resource.uri}))
        tab.wait_for_url(f"{live_public_url}/t/alpha/login**")
        tab.fill("input[name=username]", a.member.email)
        tab.fill("input[name=password]", PASSWORD)
        tab.click("button[type=submit]")
        consent = tab.locator(".consent")
        assert consent.locator(".client-name").inner_text() == "Chromium Desktop"
        assert "Unverified" in consent.inner_text() and "127.0.0.1" in consent.locator(".redirect-host").inner_text()
        assert "Read your files" in consent.locator(".scopes").inner_text()
        tab.click("button[value=allow]")
        tab.wait_for_url(f"{REDIRECT_URI}**")
        params = query_of(tab.url)
        assert params["state"] == "xyz" and params["iss"] == a.tenant.issuer
    finally:
        person.close()
    answer = httpx.post(f"{a.tenant.issuer}/token", data={
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": REDIRECT_URI,
        "client_id": client_id, "code_verifier": verifier, "resource": resource.uri})
    assert answer.status_code == 200 and answer.json()["scope"].split() == ["files:read"], answer.text

    # The admin finds the person's grant and revokes it with its token.
    page.click(".sidenav >> text=Tokens & grants")
    page.fill("#token-search input[name=user]", a.member.email)
    page.click("#token-search button[type=submit]")
    assert page.locator("#tokens tbody tr[data-token-id]").count() == 1
    page.locator("#grants tbody tr[data-grant-id] button:has-text('Revoke')").click()
    assert "Grant revoked with" in page.locator(".messages").inner_text()
    assert not Consent.objects.unscoped().filter(user=a.member).exists()
    assert not AccessToken.objects.unscoped().filter(user=a.member).exists()
