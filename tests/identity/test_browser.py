"""Chromium: a person of the tenant signs in through the tenant's own provider while an MCP client asks for
access, the client gets its tokens, and the provider's sign-out revokes them."""

from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from audit.models import AuditEvent
from identity.models import FederatedIdentity
from oauth.models import AccessToken, RefreshToken
from tenants.models import Membership, Role
from tests.factories import REDIRECT_URI, make_client, make_resource
from tests.identity.conftest import new_account
from tests.oauth.flows import authorize_url, pkce_pair

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sso_user_completes_an_mcp_authorization_and_provider_logout_revokes_it(
        live_public_url, page, two_tenants, make_idp, oidc_provider):
    a, b = two_tenants
    make_idp(a.tenant)
    resource = make_resource(a.tenant, "https://mcp.alpha.example/mcp", name="files")
    mcp_client, _ = make_client(a.tenant, resources=[resource], name="Claude Desktop")
    login = new_account(oidc_provider, email="ada@corp.example", groups=["auditors"], name="Ada Lovelace")
    verifier, challenge = pkce_pair()
    url = live_public_url + authorize_url(a.tenant, mcp_client, resource=resource.uri, challenge=challenge,
                                          scope="tools:read offline_access")
    # The MCP client's redirect URI is a loopback listener on the person's machine: answer for it.
    page.route(f"{REDIRECT_URI}**", lambda route: route.fulfill(status=200, body="client got the code"))

    page.goto(url)  # anonymous: the authorization endpoint sends the person to the tenant's sign-in page
    assert urlsplit(page.url).path == "/t/alpha/login"
    assert page.locator("#identity-providers a[data-idp=corp]").count() == 1
    page.fill("input[name=username]", "ada@corp.example")
    page.click("#sign-in button[type=submit]")  # no password: home-realm discovery routes to the provider
    page.wait_for_url(f"{oidc_provider.issuer}/interaction/**")
    page.fill("#login", login)
    page.click("text=Sign in at the IdP")
    page.wait_for_url(f"{live_public_url}/t/alpha/authorize?**")  # back at the MCP client's request
    assert "Claude Desktop" in page.content() and resource.uri in page.content()
    page.click("button[value=allow]")
    page.wait_for_url(f"{REDIRECT_URI}?**")
    params = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert params["iss"] == a.tenant.issuer and params["state"] == "st4te"

    identity = FederatedIdentity.objects.get(subject=login)
    user = identity.user
    assert Membership.objects.get(tenant=a.tenant, user=user).role == Role.AUDITOR  # group "auditors" mapped
    assert not Membership.objects.unscoped().filter(tenant=b.tenant, user=user).exists()

    with httpx.Client(base_url=live_public_url) as http:
        token = http.post("/t/alpha/token", data={
            "grant_type": "authorization_code", "code": params["code"], "redirect_uri": REDIRECT_URI,
            "client_id": mcp_client.client_id, "code_verifier": verifier, "resource": resource.uri})
        assert token.status_code == 200, token.text
        tokens = token.json()
        jwks = jwt.PyJWKClient(f"{live_public_url}/t/alpha/jwks.json")
        claims = jwt.decode(tokens["access_token"], jwks.get_signing_key_from_jwt(tokens["access_token"]).key,
                            algorithms=["RS256", "ES256"], audience=resource.uri, issuer=a.tenant.issuer)
        assert claims["sub"] == str(user.pk) and claims["scope"] == "tools:read offline_access"

        # Ada signs out at her provider; it tells the platform through back-channel logout.
        page.goto(f"{oidc_provider.issuer}/session/end", wait_until="domcontentloaded")
        page.click("text=Yes, sign me out")
        page.wait_for_load_state("domcontentloaded")
        assert not AccessToken.objects.filter(user=user).exists()
        assert RefreshToken.objects.get(user=user).revoked is not None
        refreshed = http.post("/t/alpha/token", data={"grant_type": "refresh_token", "client_id": mcp_client.client_id,
                                                       "refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"

    page.goto(f"{live_public_url}/t/alpha/")
    assert "ada@corp.example" not in page.content() and "Sign in" in page.content()
    event = AuditEvent.objects.get(tenant=a.tenant, action="sso.backchannel_logout")
    assert event.data["users"] == ["ada@corp.example"] and event.data["sessions_ended"] == 1
