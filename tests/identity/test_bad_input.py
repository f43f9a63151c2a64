"""Every way an upstream sign-in can be wrong: refused, audited, explained, and nothing created or linked."""

from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from audit.services import Actor
from identity.models import FederatedIdentity, FederatedSession
from identity.services import identity_provider_create
from tenants.models import Membership
from tests.conftest import free_port
from tests.factories import add_member
from tests.identity.conftest import _follow_idp, new_account, sign_in_via_idp

pytestmark = pytest.mark.django_db


def rows():
    return (get_user_model().objects.count(), FederatedIdentity.objects.count(), Membership.objects.unscoped().count(),
            FederatedSession.objects.count())


def assert_refused(response, client, tenant, reason: str, before):
    body = response.content.decode()
    assert response.status_code in (400, 403, 502), (response.status_code, body[:300])
    assert "Your identity provider" in body and "ask your administrator" in body
    assert f"<code>{reason}</code>" in body
    assert rows() == before, "a refused sign-in created or linked something"
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.filter(tenant=tenant, action="sso.signin_failed").latest("seq")
    assert event.data["reason"] == reason and event.data["identity_provider"] == "corp"


@pytest.mark.parametrize("fault, reason", [
    ("bad_signature", "id_token.bad_signature"),
    ("wrong_audience", "id_token.wrong_audience"),
    ("expired", "id_token.expired"),
    ("alg_none", "id_token.alg_not_allowed"),
    ("hs256", "id_token.alg_not_allowed"),
])
def test_a_tampered_id_token_is_refused(fault, reason, two_tenants, make_idp, oidc_provider, client):
    a, _ = two_tenants
    make_idp(a.tenant)
    login = new_account(oidc_provider, email="mallory@corp.example", groups=["mcp-admins"])
    before = rows()
    with oidc_provider.fault(fault):
        response, _ = sign_in_via_idp(client, oidc_provider, "/t/alpha/sso/corp/start", login)
    assert_refused(response, client, a.tenant, reason, before)


def test_a_replayed_id_token_fails_the_nonce_check(two_tenants, make_idp, oidc_provider, client_factory):
    a, _ = two_tenants
    make_idp(a.tenant)
    victim = new_account(oidc_provider, email="victim@corp.example")
    sign_in_via_idp(client_factory(), oidc_provider, "/t/alpha/sso/corp/start", victim)
    attacker = new_account(oidc_provider, email="attacker@corp.example")
    before, client = rows(), client_factory()
    # The provider answers the attacker's sign-in with the victim's earlier ID token.
    with oidc_provider.fault("replay_id_token"):
        response, _ = sign_in_via_idp(client, oidc_provider, "/t/alpha/sso/corp/start", attacker)
    assert_refused(response, client, a.tenant, "id_token.nonce_mismatch", before)


def test_a_replayed_authorization_response_is_refused(two_tenants, make_idp, oidc_provider, client):
    a, _ = two_tenants
    make_idp(a.tenant)
    login = new_account(oidc_provider, email="once@corp.example")
    started = client.get("/t/alpha/sso/corp/start")
    callback = urlsplit(_follow_idp(httpx.Client(base_url=oidc_provider.issuer), started["Location"], login,
                                    settings.PUBLIC_URL))
    assert client.get(f"{callback.path}?{callback.query}").status_code == 302
    client.logout()
    before = rows()
    response = client.get(f"{callback.path}?{callback.query}")  # state is single use
    assert_refused(response, client, a.tenant, "state_invalid", before)


def test_an_authorization_response_naming_another_issuer_is_refused(two_tenants, make_idp, oidc_provider, client):
    a, _ = two_tenants
    make_idp(a.tenant)
    login = new_account(oidc_provider, email="mixup@corp.example")
    started = client.get("/t/alpha/sso/corp/start")
    callback = urlsplit(_follow_idp(httpx.Client(base_url=oidc_provider.issuer), started["Location"], login,
                                    settings.PUBLIC_URL))
    params = dict(parse_qsl(callback.query))
    assert params["iss"] == oidc_provider.issuer  # RFC 9207: the provider sends it; we check it
    params["iss"] = "https://evil.example"
    before = rows()
    response = client.get(f"{callback.path}?{urlencode(params)}")
    assert_refused(response, client, a.tenant, "issuer_mismatch", before)


def test_a_wrong_client_secret_is_explained(two_tenants, make_idp, oidc_provider, client):
    a, _ = two_tenants
    make_idp(a.tenant, secret_override="not-the-secret-the-idp-issued")
    login = new_account(oidc_provider, email="ops@corp.example")
    before = rows()
    response, _ = sign_in_via_idp(client, oidc_provider, "/t/alpha/sso/corp/start", login)
    assert_refused(response, client, a.tenant, "token_request_failed", before)
    assert "invalid_client" in response.content.decode() and "secret" in response.content.decode()


def test_an_unreachable_provider_is_explained(two_tenants, client):
    a, _ = two_tenants
    identity_provider_create(tenant=a.tenant, name="Down IdP", slug="corp", address=f"http://127.0.0.1:{free_port()}",
                             client_id="x", client_secret="y", actor=Actor("test", "", "pytest"))
    before = rows()
    response = client.get("/t/alpha/sso/corp/start")
    assert_refused(response, client, a.tenant, "idp_unreachable", before)
    assert response.status_code == 502


@pytest.mark.parametrize("claims, reason", [
    ({"email": None}, "missing_email"),
    ({"email": "eve@elsewhere.example"}, "domain_not_allowed"),
    ({"email": "new@corp.example", "verified": False}, "email_unverified"),
])
def test_unusable_claims_are_refused(claims, reason, two_tenants, make_idp, oidc_provider, client):
    a, _ = two_tenants
    make_idp(a.tenant)
    login = new_account(oidc_provider, **claims)
    before = rows()
    response, _ = sign_in_via_idp(client, oidc_provider, "/t/alpha/sso/corp/start", login)
    assert_refused(response, client, a.tenant, reason, before)


def test_an_unverified_address_never_links_an_existing_account(two_tenants, make_idp, oidc_provider, client):
    a, _ = two_tenants
    make_idp(a.tenant, domains=["alpha.example"])
    login = new_account(oidc_provider, email=a.admin.email, verified=False)
    before = rows()
    response, _ = sign_in_via_idp(client, oidc_provider, "/t/alpha/sso/corp/start", login)
    assert_refused(response, client, a.tenant, "unverified_email_matches_account", before)


def test_a_verified_address_of_another_tenants_member_is_not_linked(two_tenants, make_idp, oidc_provider, client):
    """Alpha's admin runs alpha's IdP: it must not become a way into bravo's member's account."""
    a, b = two_tenants
    make_idp(a.tenant, domains=["bravo.example"])
    login = new_account(oidc_provider, email=b.owner.email)
    before = rows()
    response, _ = sign_in_via_idp(client, oidc_provider, "/t/alpha/sso/corp/start", login)
    assert_refused(response, client, a.tenant, "account_not_linkable", before)


def test_without_jit_provisioning_an_unknown_person_is_refused(two_tenants, make_idp, oidc_provider, client):
    a, _ = two_tenants
    make_idp(a.tenant, jit_provisioning=False)
    login = new_account(oidc_provider, email="stranger@corp.example")
    before = rows()
    response, _ = sign_in_via_idp(client, oidc_provider, "/t/alpha/sso/corp/start", login)
    assert_refused(response, client, a.tenant, "not_provisioned", before)


def test_a_platform_operator_never_signs_in_through_a_tenants_provider(two_tenants, make_idp, oidc_provider,
                                                                      make_user, client_factory):
    a, _ = two_tenants
    make_idp(a.tenant, domains=["platform.example"])
    operator = make_user("operator@platform.example", is_staff=True)
    login = new_account(oidc_provider, email=operator.email)
    before, client = rows(), client_factory()
    response, _ = sign_in_via_idp(client, oidc_provider, "/t/alpha/sso/corp/start", login)
    assert_refused(response, client, a.tenant, "account_not_linkable", before)

    # Nor through an identity linked while the account was an ordinary member.
    operator.is_staff = False
    operator.save()
    add_member(a.tenant, operator, "member")
    assert sign_in_via_idp(client_factory(), oidc_provider, "/t/alpha/sso/corp/start", login)[0].status_code == 302
    operator.is_staff = True
    operator.save()
    before, client = rows(), client_factory()
    response, _ = sign_in_via_idp(client, oidc_provider, "/t/alpha/sso/corp/start", login)
    assert_refused(response, client, a.tenant, "account_not_linkable", before)
