"""Back-channel logout from the provider ends the person's sessions and revokes their tokens at this tenant."""

import pytest

from audit.models import AuditEvent
from identity.models import FederatedSession
from oauth.models import AccessToken, RefreshToken
from tests.factories import make_client, make_resource
from tests.identity.conftest import end_idp_session, new_account, sign_in_via_idp
from tests.oauth.flows import authorize, exchange

pytestmark = pytest.mark.django_db


def sso_user_with_tokens(client, oidc_provider, tenant, resource, mcp_client, email):
    """Signs a person in through the provider, then lets an MCP client get tokens for them."""
    login = new_account(oidc_provider, email=email, groups=["staff"])
    response, idp_http = sign_in_via_idp(client, oidc_provider, f"/t/{tenant.slug}/sso/corp/start", login)
    assert response.status_code == 302
    grant = authorize(client, tenant, mcp_client, resource=resource.uri, scope="tools:read offline_access")
    tokens = exchange(client, tenant, mcp_client, grant, resource=resource.uri)
    assert tokens.status_code == 200, tokens.content
    return login, idp_http, tokens.json()


@pytest.fixture
def mcp_setup(two_tenants):
    a, _ = two_tenants
    resource = make_resource(a.tenant, "https://mcp.alpha.example/mcp", name="files")
    mcp_client, _ = make_client(a.tenant, resources=[resource], name="Claude Desktop")
    return a, resource, mcp_client


def test_backchannel_logout_ends_sessions_and_revokes_tokens_of_that_person_only(
        mcp_setup, make_idp, oidc_provider, logout_catcher, client_factory):
    a, resource, mcp_client = mcp_setup
    make_idp(a.tenant, backchannel_logout_uri=logout_catcher.url)
    ada_browser, bob_browser = client_factory(), client_factory()
    ada_login, ada_idp, ada_tokens = sso_user_with_tokens(ada_browser, oidc_provider, a.tenant, resource, mcp_client,
                                                          "ada@corp.example")
    _, _, bob_tokens = sso_user_with_tokens(bob_browser, oidc_provider, a.tenant, resource, mcp_client,
                                            "bob@corp.example")
    assert AccessToken.objects.count() == 2

    end_idp_session(ada_idp)  # Ada signs out at her provider
    logout_token = logout_catcher.wait_for_token()
    response = client_factory().post("/t/alpha/sso/corp/backchannel-logout", {"logout_token": logout_token})

    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert "_auth_user_id" not in ada_browser.session  # her platform session is gone
    assert "ada@corp.example" not in ada_browser.get("/t/alpha/").content.decode()
    ada = AccessToken.objects.filter(user__email="ada@corp.example")
    assert not ada.exists()
    assert RefreshToken.objects.get(user__email="ada@corp.example").revoked is not None
    refreshed = ada_browser.post("/t/alpha/token", {"grant_type": "refresh_token", "client_id": mcp_client.client_id,
                                                    "refresh_token": ada_tokens["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    # Bob, signed in through the same provider, keeps his session and tokens.
    assert "bob@corp.example" in bob_browser.get("/t/alpha/").content.decode()
    assert AccessToken.objects.filter(user__email="bob@corp.example").count() == 1
    assert not FederatedSession.objects.filter(identity__subject=ada_login).exists()
    event = AuditEvent.objects.get(tenant=a.tenant, action="sso.backchannel_logout")
    assert event.data["users"] == ["ada@corp.example"] and event.data["sessions_ended"] == 1
    assert event.data["tokens_revoked"] >= 1
    assert AuditEvent.objects.filter(tenant=a.tenant, action="tokens.revoked").exists()

    # The same logout token again is a replay.
    again = client_factory().post("/t/alpha/sso/corp/backchannel-logout", {"logout_token": logout_token})
    assert again.status_code == 400 and again.json()["error"] == "invalid_request"
    refused = AuditEvent.objects.filter(tenant=a.tenant, action="sso.backchannel_logout_refused").latest("seq")
    assert refused.data["reason"] == "logout_token.replayed"


def test_a_logout_token_is_refused_by_another_tenant_and_when_altered(mcp_setup, two_tenants, make_idp,
                                                                      oidc_provider, logout_catcher, client_factory):
    a, resource, mcp_client = mcp_setup
    _, b = two_tenants
    make_idp(a.tenant, backchannel_logout_uri=logout_catcher.url)
    make_idp(b.tenant)  # bravo trusts the same provider, with its own client
    browser = client_factory()
    _, idp_http, _ = sso_user_with_tokens(browser, oidc_provider, a.tenant, resource, mcp_client, "ada@corp.example")
    end_idp_session(idp_http)
    logout_token = logout_catcher.wait_for_token()

    at_bravo = client_factory().post("/t/bravo/sso/corp/backchannel-logout", {"logout_token": logout_token})
    assert at_bravo.status_code == 400 and "another client" in at_bravo.json()["error_description"]
    header, payload, signature = logout_token.split(".")
    altered = f"{header}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    tampered = client_factory().post("/t/alpha/sso/corp/backchannel-logout", {"logout_token": altered})
    assert tampered.status_code == 400
    assert client_factory().post("/t/alpha/sso/corp/backchannel-logout", {}).status_code == 400
    assert client_factory().get("/t/alpha/sso/corp/backchannel-logout").status_code == 405
    assert "_auth_user_id" in browser.session and AccessToken.objects.count() == 1
    reasons = list(AuditEvent.objects.filter(action="sso.backchannel_logout_refused").order_by("seq")
                   .values_list("data__reason", flat=True))
    assert reasons == ["logout_token.wrong_audience", "logout_token.bad_signature", "logout_token.missing"]
