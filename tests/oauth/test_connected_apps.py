"""The user's connected apps page and the services behind client and token administration."""

import pytest

from audit.models import AuditEvent
from oauth import errors
from oauth.clients import services as client_services
from oauth.config import services as config_services
from oauth.grants import services as grant_services
from oauth.models import AccessToken, ClientStatus, Consent, RefreshToken
from tests.factories import ACTOR, make_agent, make_client
from tests.oauth.flows import authorize, authorize_url, client_credentials, exchange, pkce_pair


@pytest.mark.django_db
def test_connected_apps_lists_and_revokes_a_grant_and_its_tokens(member_http, world, resource, public_client):
    body = exchange(member_http, world.tenant, public_client,
                    authorize(member_http, world.tenant, public_client, resource=resource.uri)).json()
    page = member_http.get("/t/acme/account/apps")
    assert page.status_code == 200 and b"Claude Desktop" in page.content and resource.uri.encode() in page.content
    consent = Consent.objects.for_tenant(world.tenant).get()
    response = member_http.post(f"/t/acme/account/apps/{consent.pk}/revoke", follow=True)
    assert b"is disconnected" in response.content
    assert not Consent.objects.for_tenant(world.tenant).exists()
    assert not AccessToken.objects.for_tenant(world.tenant).exists()
    assert member_http.post("/t/acme/token", {"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                                              "client_id": public_client.client_id}).status_code == 400
    # The next authorization asks again.
    verifier, challenge = pkce_pair()
    again = member_http.get(authorize_url(world.tenant, public_client, resource=resource.uri, challenge=challenge))
    assert again.status_code == 200
    assert AuditEvent.objects.filter(action="consent.revoked").exists()


@pytest.mark.django_db
def test_connected_apps_needs_sign_in(client, world):
    response = client.get("/t/acme/account/apps")
    assert response.status_code == 302 and response["Location"].startswith("/t/acme/login?next=")


@pytest.mark.django_db
def test_another_users_consent_cannot_be_revoked(signed_in, member_http, world, resource, public_client):
    authorize(member_http, world.tenant, public_client, resource=resource.uri)
    consent = Consent.objects.for_tenant(world.tenant).get()
    intruder = signed_in(world.auditor)
    assert intruder.post(f"/t/acme/account/apps/{consent.pk}/revoke").status_code == 404
    assert Consent.objects.for_tenant(world.tenant).filter(pk=consent.pk).exists()


@pytest.mark.django_db
def test_suspending_a_client_revokes_its_tokens_and_refuses_new_ones(client, world, resource):
    agent, secret = make_agent(world.tenant, resources=[resource])
    client_credentials(client, world.tenant, agent, secret, resource=resource.uri)
    client_services.client_suspend(client=agent, actor=ACTOR, reason="leaked secret")
    assert not AccessToken.objects.for_tenant(world.tenant).exists()
    assert client_credentials(client, world.tenant, agent, secret, resource=resource.uri).status_code == 401
    client_services.client_reactivate(client=agent, actor=ACTOR)
    assert client_credentials(client, world.tenant, agent, secret, resource=resource.uri).status_code == 200
    assert AuditEvent.objects.filter(action="client.suspended").exists()


@pytest.mark.django_db
def test_rotating_a_secret_invalidates_the_old_one(client, world, resource):
    agent, old = make_agent(world.tenant, resources=[resource])
    new = client_services.client_rotate_secret(client=agent, actor=ACTOR)
    assert new != old
    assert client_credentials(client, world.tenant, agent, old, resource=resource.uri).status_code == 401
    assert client_credentials(client, world.tenant, agent, new, resource=resource.uri).status_code == 200


@pytest.mark.django_db
def test_tokens_revoke_for_a_user_is_set_based_and_audited(member_http, world, resource, public_client):
    for _ in range(3):
        exchange(member_http, world.tenant, public_client,
                 authorize(member_http, world.tenant, public_client, resource=resource.uri))
    count = grant_services.tokens_revoke_for(tenant=world.tenant, user=world.member, actor=ACTOR)
    assert count == 6  # three access tokens and three refresh tokens
    assert not AccessToken.objects.for_tenant(world.tenant).exists()
    assert not RefreshToken.objects.for_tenant(world.tenant).filter(revoked__isnull=True).exists()
    assert AuditEvent.objects.filter(action="tokens.revoked").exists()


@pytest.mark.django_db
def test_removing_a_resource_from_a_client_revokes_its_tokens_for_it(client, world, resource):
    agent, secret = make_agent(world.tenant, resources=[resource])
    client_credentials(client, world.tenant, agent, secret, resource=resource.uri)
    client_services.client_update(client=agent, actor=ACTOR, allowed_resources=[])
    assert not AccessToken.objects.for_tenant(world.tenant).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("kwargs, field", [
    ({"name": ""}, "name"),
    ({"redirect_uris": ["http://evil.example/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["https://app.example/cb#frag"]}, "redirect_uris"),
    ({"grant_types": ["password"]}, "grant_types"),
    ({"grant_types": ["implicit"]}, "grant_types"),
    ({"grant_types": ["client_credentials"], "redirect_uris": []}, "grant_types"),  # public client
    ({"scopes": ["admin:clients"]}, "scopes"),
])
def test_client_create_refuses_unsafe_shapes_with_a_clear_message(world, kwargs, field):
    options = {"name": "App", "redirect_uris": ["https://app.example/cb"], **kwargs}
    with pytest.raises(errors.OAuthServiceError) as excinfo:
        make_client(world.tenant, **options)
    assert excinfo.value.field == field and str(excinfo.value)


@pytest.mark.django_db
def test_private_use_and_loopback_redirects_are_accepted(world):
    client, secret = make_client(world.tenant, redirect_uris=["com.example.app:/oauth", "http://localhost/cb",
                                                              "http://[::1]:8080/cb"])
    assert secret is None and client.status == ClientStatus.APPROVED


@pytest.mark.django_db
def test_tenant_settings_change_the_default_lifetime(client, world, resource):
    config_services.tenant_auth_settings_update(tenant=world.tenant, actor=ACTOR, access_token_lifetime=300)
    agent, secret = make_agent(world.tenant, resources=[resource])
    assert client_credentials(client, world.tenant, agent, secret, resource=resource.uri).json()["expires_in"] == 300
    with pytest.raises(errors.OAuthServiceError):
        config_services.tenant_auth_settings_update(tenant=world.tenant, actor=ACTOR, access_token_lifetime=5)
