"""Issue 16 item 1: removing a member, deactivating an account and suspending a tenant end the person's
access at that tenant at once (tokens, codes, consents, bound sessions), and refresh and introspection
check membership and ``is_active`` themselves, whatever a revocation missed."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditEvent
from oauth.models import AccessToken, Consent, RefreshToken
from tenants.models import Membership
from tests.factories import ACTOR, add_member, make_agent, make_client
from tests.oauth.flows import authorize, basic, exchange, refresh

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(world, resource, signed_in):
    """The member's live token pair at acme (through the real endpoints) and a resource server to ask."""
    client, _ = make_client(world.tenant, resources=[resource], name="Claude Desktop")
    http = signed_in(world.member)
    body = exchange(http, world.tenant, client, authorize(http, world.tenant, client, resource=resource.uri)).json()
    http.logout()
    server, secret = make_agent(world.tenant, resources=[resource], name="files MCP server")
    return {"client": client, "body": body, "server": (server, secret)}


def _introspect(held, token: str) -> dict:
    server, secret = held["server"]
    return Client().post("/t/acme/introspect", {"token": token},
                         HTTP_AUTHORIZATION=basic(server.client_id, secret)).json()


def _refresh(world, held, token: str):
    return refresh(Client(), world.tenant, held["client"], token)


def _assert_access_ended(world, held):
    body = held["body"]
    assert _introspect(held, body["access_token"]) == {"active": False}
    assert _introspect(held, body["refresh_token"]) == {"active": False}
    refused = _refresh(world, held, body["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_removing_a_member_through_the_api_ends_their_tokens_consents_and_refresh(world, held, signed_in):
    body = held["body"]
    assert _introspect(held, body["access_token"])["active"] is True
    assert Consent.objects.for_tenant(world.tenant).filter(user=world.member).exists()
    membership = Membership.objects.get(tenant=world.tenant, user=world.member)
    admin = signed_in(world.admin)
    assert admin.delete(f"/api/v1/members/{membership.pk}", HTTP_X_TENANT="acme").status_code == 204

    _assert_access_ended(world, held)
    assert not AccessToken.objects.for_tenant(world.tenant).filter(user=world.member).exists()
    assert not RefreshToken.objects.for_tenant(world.tenant).filter(user=world.member, revoked__isnull=True).exists()
    assert not Consent.objects.for_tenant(world.tenant).filter(user=world.member).exists()
    ended = AuditEvent.objects.get(tenant=world.tenant, action="access.user_ended")
    assert ended.data["reason"] == "membership_removed" and ended.data["consents_deleted"] == 1
    assert ended.actor_label == world.admin.email


def test_removing_a_member_in_the_console_ends_their_access(world, held, signed_in):
    membership = Membership.objects.get(tenant=world.tenant, user=world.member)
    response = signed_in(world.owner).post(f"/console/acme/members/{membership.pk}/remove")
    assert response.status_code in (200, 302)
    _assert_access_ended(world, held)


def test_refresh_and_introspection_check_membership_themselves(world, held):
    """A membership gone without the service (a raw delete, a restore from backup): nothing was revoked,
    and still neither refresh nor introspection accepts the person's tokens."""
    Membership.objects.filter(tenant=world.tenant, user=world.member).delete()  # no signal, no revocation
    assert RefreshToken.objects.for_tenant(world.tenant).filter(user=world.member, revoked__isnull=True).exists()
    _assert_access_ended(world, held)


def test_refresh_and_introspection_check_is_active_themselves(world, held):
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(pk=world.member.pk).update(is_active=False)  # no signal
    _assert_access_ended(world, held)


def test_deactivating_an_account_ends_its_tokens_and_sessions_everywhere(world, held, make_world, signed_in):
    other = make_world("bravo")
    add_member(other.tenant, world.member, "member")
    session = signed_in(world.member)
    assert session.get("/t/acme/account/apps").status_code == 200
    world.member.is_active = False
    world.member.save()

    _assert_access_ended(world, held)
    assert not Consent.objects.for_tenant(world.tenant).filter(user=world.member).exists()
    # The session opened before the deactivation signs nobody in any more.
    assert session.get("/t/acme/account/apps").status_code == 302
    assert AuditEvent.objects.filter(tenant=None, action="account.deactivated").exists()
    assert AuditEvent.objects.get(tenant=world.tenant, action="access.user_ended").data["reason"] == \
        "account_deactivated"


def test_suspending_a_tenant_ends_every_token_and_consent_for_good(world, held):
    from tenants.services import tenant_reactivate, tenant_suspend

    tenant_suspend(tenant=world.tenant, actor=ACTOR, reason="abuse report")
    assert not Consent.objects.for_tenant(world.tenant).exists()
    tenant_reactivate(tenant=world.tenant, actor=ACTOR)
    world.tenant.refresh_from_db()
    # Reactivation brings nothing back: the suspension's revocation mark still refuses the old tokens.
    _assert_access_ended(world, held)
    assert AuditEvent.objects.filter(tenant=world.tenant, action="access.tenant_ended").exists()


def test_another_members_removal_leaves_a_persons_access_alone(world, held, signed_in):
    auditor = Membership.objects.get(tenant=world.tenant, user=world.auditor)
    assert signed_in(world.admin).delete(f"/api/v1/members/{auditor.pk}", HTTP_X_TENANT="acme").status_code == 204
    assert _introspect(held, held["body"]["access_token"])["active"] is True
    assert _refresh(world, held, held["body"]["refresh_token"]).status_code == 200
