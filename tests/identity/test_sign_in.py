"""Signing in at a tenant through its own OpenID provider (node-oidc-provider), end to end."""

from urllib.parse import urlsplit

import httpx
import pytest
from django.conf import settings

from audit.models import AuditEvent, FailureWindow
from identity.models import FederatedIdentity, FederatedSession, IdentityProvider
from kit import crypto
from tenants.models import Membership, Role
from tests.identity.conftest import _follow_idp, new_account, sign_in_via_idp

pytestmark = pytest.mark.django_db


def actions(tenant, prefix=""):
    return list(AuditEvent.objects.filter(tenant=tenant, action__startswith=prefix).order_by("seq")
                .values_list("action", flat=True))


def test_first_sign_in_provisions_a_member_with_the_role_of_their_group(two_tenants, make_idp, oidc_provider,
                                                                          client):
    a, _ = two_tenants
    make_idp(a.tenant)
    login = new_account(oidc_provider, email="Ada@Corp.example", groups=["mcp-admins", "staff"])

    response, _ = sign_in_via_idp(client, oidc_provider, "/t/alpha/sso/corp/start?next=/t/alpha/authorize%3Fx%3D1",
                                  login)

    assert response.status_code == 302 and response["Location"] == "/t/alpha/authorize?x=1"
    identity = FederatedIdentity.objects.get(subject=login)
    assert identity.user.email == "ada@corp.example" and identity.user.name == "Ada Lovelace"
    assert not identity.user.has_usable_password()
    assert Membership.objects.get(tenant=a.tenant, user=identity.user).role == Role.ADMIN
    assert identity.groups == ["mcp-admins", "staff"]
    assert FederatedSession.objects.filter(identity=identity, session_key=client.session.session_key).exists()
    assert "ada@corp.example" in client.get("/t/alpha/").content.decode()
    assert actions(a.tenant, "sso.") == ["sso.provider_created", "sso.user_provisioned", "sso.identity_linked",
                                         "sso.signin_succeeded"]
    signed_in = AuditEvent.objects.get(tenant=a.tenant, action="signin.succeeded")
    assert signed_in.data["method"] == "sso:corp"


def test_the_same_subject_is_the_same_user_and_a_lost_group_loses_its_role(two_tenants, make_idp, oidc_provider,
                                                                          client_factory):
    a, _ = two_tenants
    make_idp(a.tenant)
    login = new_account(oidc_provider, email="grace@corp.example", groups=["mcp-admins"])
    sign_in_via_idp(client_factory(), oidc_provider, "/t/alpha/sso/corp/start", login)
    user = FederatedIdentity.objects.get(subject=login).user

    # At the provider, the person leaves the admin group and changes address; the subject stays.
    oidc_provider.add_account(login, email="grace.hopper@corp.example", email_verified=True, groups=["staff"],
                              name="Grace Hopper")
    response, _ = sign_in_via_idp(client_factory(), oidc_provider, "/t/alpha/sso/corp/start", login)

    assert response.status_code == 302
    assert FederatedIdentity.objects.filter(subject=login).count() == 1
    assert FederatedIdentity.objects.get(subject=login).user == user
    assert Membership.objects.get(tenant=a.tenant, user=user).role == Role.MEMBER
    mapped = AuditEvent.objects.get(tenant=a.tenant, action="sso.role_mapped")
    assert mapped.data["old_role"] == "admin" and mapped.data["role"] == "member"
    assert "membership.role_changed" in actions(a.tenant, "membership.")


def test_a_verified_address_links_an_existing_member_of_this_tenant(two_tenants, make_idp, oidc_provider, client):
    a, _ = two_tenants
    make_idp(a.tenant, domains=["alpha.example"])
    login = new_account(oidc_provider, email=a.member.email)

    response, _ = sign_in_via_idp(client, oidc_provider, "/t/alpha/sso/corp/start", login)

    assert response.status_code == 302
    assert FederatedIdentity.objects.get(subject=login).user == a.member
    assert a.member.has_usable_password()  # linking does not touch the account's password


def test_a_disabled_provider_signs_nobody_in(two_tenants, make_idp, oidc_provider, client):
    from identity.services import identity_provider_set_enabled

    a, _ = two_tenants
    idp = make_idp(a.tenant)
    login = new_account(oidc_provider, email="linus@corp.example")
    started = client.get("/t/alpha/sso/corp/start")  # a sign-in already under way ...
    identity_provider_set_enabled(identity_provider=idp, enabled=False, actor=a.owner)  # ... when it is disabled
    callback = urlsplit(_follow_idp(httpx.Client(base_url=oidc_provider.issuer), started["Location"], login,
                                    settings.PUBLIC_URL))
    response = client.get(f"{callback.path}?{callback.query}")

    assert response.status_code == 403
    assert "turned off" in response.content.decode()
    assert client.get("/t/alpha/sso/corp/start").status_code == 403
    assert not FederatedIdentity.objects.exists()
    assert AuditEvent.objects.filter(action="sso.provider_disabled", tenant=a.tenant).exists()
    # Both refusals are counted; the second, same address, reason and minute, joins the first's window.
    assert AuditEvent.objects.filter(action="sso.signin_failed", data__reason="idp_disabled").count() == 1
    assert FailureWindow.objects.get(action="sso.signin_failed").count == 2


def test_client_secret_is_encrypted_at_rest_and_bound_to_its_row(two_tenants, make_idp):
    a, _ = two_tenants
    idp = make_idp(a.tenant, secret_override="s3cret-from-the-idp")
    other = make_idp(a.tenant, slug="other", secret_override="another-secret")
    stored = IdentityProvider.objects.get(pk=idp.pk).client_secret_encrypted
    assert "s3cret" not in stored
    assert crypto.decrypt(stored, aad=idp.client_secret_aad) == b"s3cret-from-the-idp"
    with pytest.raises(crypto.DecryptionError):  # copied into another row, it does not decrypt
        crypto.decrypt(stored, aad=other.client_secret_aad)
    created = AuditEvent.objects.filter(action="sso.provider_created", tenant=a.tenant).first()
    assert "s3cret" not in str(created.data)


@pytest.mark.django_db(transaction=True)
def test_private_key_jwt_authenticates_the_platform_to_the_provider(live_public_url, two_tenants, make_idp,
                                                                    oidc_provider, client):
    a, _ = two_tenants
    idp = make_idp(a.tenant, auth_method="private_key_jwt")
    assert idp.client_secret_encrypted == "" and idp.private_key_encrypted
    login = new_account(oidc_provider, email="kid@corp.example")

    # The provider fetches our public key from the JWKS URL it was given at registration.
    response, _ = sign_in_via_idp(client, oidc_provider, "/t/alpha/sso/corp/start", login)

    assert response.status_code == 302, response.content.decode()[:500]
    assert FederatedIdentity.objects.filter(subject=login, identity_provider=idp).exists()


def test_userinfo_claims_fill_in_and_sessions_of_expired_sign_ins_are_forgotten(two_tenants, make_idp, oidc_provider,
                                                                                client_factory):
    a, _ = two_tenants
    make_idp(a.tenant, use_userinfo=True)
    login = new_account(oidc_provider, email="ui@corp.example", groups=["auditors"])
    first = client_factory()
    sign_in_via_idp(first, oidc_provider, "/t/alpha/sso/corp/start", login)
    identity = FederatedIdentity.objects.get(subject=login)
    assert Membership.objects.get(tenant=a.tenant, user=identity.user).role == Role.AUDITOR
    first.logout()  # that session ends; the next sign-in forgets it
    sign_in_via_idp(client_factory(), oidc_provider, "/t/alpha/sso/corp/start", login)
    assert FederatedSession.objects.filter(identity=identity).count() == 1
