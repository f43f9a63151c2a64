"""Chromium with a CDP virtual authenticator (CTAP2, internal transport, resident keys, user verification):
a person registers a passkey on their tenant's sign-in security page, then signs in with it during an
authorization, and the ID token says how (amr hwk + user, the multi-factor acr)."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import jwt
import pytest

from audit.models import AuditEvent
from identity.mfa.models import Passkey, RecoveryCode
from kit import authn
from tests.factories import PASSWORD, REDIRECT_URI, make_client, make_resource
from tests.mcp_registry.conftest import no_persistent_db_connections  # noqa: F401
from tests.oauth.flows import pkce_pair, query_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def virtual_authenticator(page) -> tuple[object, str]:
    """A platform authenticator in this page's browser, as a laptop's fingerprint reader would be."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True}})
    return cdp, added["authenticatorId"]


def sign_in(page, base: str, slug: str, email: str) -> None:
    page.goto(f"{base}/t/{slug}/login")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("#sign-in button[type=submit]")


def register_passkey(page, base: str, slug: str, name: str) -> None:
    page.goto(f"{base}/t/{slug}/account/security")
    page.fill("#passkey-name", name)
    page.click("#passkey-register")
    page.wait_for_selector("#recovery-codes")


def test_a_person_registers_a_passkey_and_signs_in_with_it_in_chromium(
        live_public_url, page, two_tenants, no_persistent_db_connections):  # noqa: F811
    a, _ = two_tenants
    base = live_public_url.replace("127.0.0.1", "localhost")  # a WebAuthn RP ID is a host name, never an address
    assert base.startswith("http://localhost:")
    cdp, authenticator_id = virtual_authenticator(page)

    sign_in(page, base, a.slug, a.member.email)
    page.wait_for_url(f"{base}/t/{a.slug}/")
    register_passkey(page, base, a.slug, "Laptop")
    passkey = Passkey.objects.get(user=a.member)
    assert passkey.name == "Laptop" and passkey.rp_id == "localhost"
    assert RecoveryCode.objects.filter(user=a.member, used_at__isnull=True).count() == 10
    assert page.locator("#recovery-codes li").count() == 10
    assert page.locator(f"li[data-factor='{passkey.pk}']").count() == 1
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]
    assert len(stored) == 1 and stored[0]["isResidentCredential"] and stored[0]["rpId"] == "localhost"

    # Signed out, the person comes back through an authorization request: password, then the passkey.
    page.context.clear_cookies()
    resource = make_resource(a.tenant, f"https://files.{a.slug}.example/mcp", name="files")
    client, _ = make_client(a.tenant, resources=[resource], name="Chromium Desktop")
    page.route("http://127.0.0.1:33418/**", lambda route: route.fulfill(status=200, body="back at the client"))
    verifier, challenge = pkce_pair()
    issuer = a.tenant.issuer.replace("127.0.0.1", "localhost")
    page.goto(f"{issuer}/authorize?" + urlencode({
        "response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT_URI, "state": "xyz",
        "scope": "openid tools:read", "code_challenge": challenge, "code_challenge_method": "S256",
        "resource": resource.uri}))
    page.wait_for_url(f"{base}/t/{a.slug}/login**")
    page.fill("input[name=username]", a.member.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("#sign-in button[type=submit]")
    page.wait_for_url(f"{base}/t/{a.slug}/mfa")
    page.click("#passkey-sign-in")
    page.locator(".consent").wait_for()
    page.click("button[value=allow]")
    page.wait_for_url(f"{REDIRECT_URI}**")
    params = query_of(page.url)
    assert params["state"] == "xyz"

    passkey.refresh_from_db()
    assert passkey.last_used_at is not None
    succeeded = AuditEvent.objects.filter(action="mfa.challenge_succeeded", actor_id=str(a.member.pk)).get()
    assert succeeded.data["method"] == "hwk" and succeeded.data["user_verified"] is True
    token = httpx.post(f"{live_public_url}/t/{a.slug}/token", data={
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": REDIRECT_URI,
        "client_id": client.client_id, "code_verifier": verifier, "resource": resource.uri}).json()
    jwks = httpx.get(f"{live_public_url}/t/{a.slug}/jwks.json").json()["keys"]
    claims = jwt.decode(token["id_token"], jwt.PyJWK(jwks[0]), algorithms=["RS256"], audience=client.client_id,
                        options={"verify_iss": False})
    assert claims["amr"] == ["pwd", "hwk", "user", "mfa"] and claims["acr"] == authn.ACR_MULTI_FACTOR


def test_a_passkey_of_another_account_is_refused_in_chromium(
        live_public_url, page, two_tenants, no_persistent_db_connections):  # noqa: F811
    """The authenticator holds the owner's passkey; the member's challenge asks for the member's, so the
    browser has nothing to offer and the page says so; the owner's passkey is unchanged."""
    a, _ = two_tenants
    base = live_public_url.replace("127.0.0.1", "localhost")
    virtual_authenticator(page)
    sign_in(page, base, a.slug, a.owner.email)
    page.wait_for_url(f"{base}/t/{a.slug}/")
    register_passkey(page, base, a.slug, "Owner laptop")
    owners = Passkey.objects.get(user=a.owner)
    page.context.clear_cookies()
    from tests.identity.mfa_helpers import SoftAuthenticator

    # The member has a passkey of their own (elsewhere), so the challenge offers passkeys at all.
    Passkey.objects.create(user=a.member, name="Phone", credential_id=SoftAuthenticator().credential_id,
                           public_key=b"\x00", rp_id="localhost")
    sign_in(page, base, a.slug, a.member.email)
    page.wait_for_url(f"{base}/t/{a.slug}/mfa")
    page.click("#passkey-sign-in")
    error = page.locator("#passkey-error")
    error.wait_for(state="visible")
    assert error.inner_text().strip()
    assert "/mfa" in page.url
    owners_after = Passkey.objects.get(pk=owners.pk)
    assert (owners_after.sign_count, owners_after.last_used_at) == (owners.sign_count, owners.last_used_at)
