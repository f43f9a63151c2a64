"""Sessions: a person lists theirs (device, address, last use) and ends any or all; a tenant admin ends a
member's sessions at that tenant, with their tokens there; last use moves at most once a minute."""

import time

import pytest
from django.test import Client

from audit.models import AuditEvent
from identity.models import UserSession
from identity.people import sessions as tracking
from identity.people.sessions import device_of
from tenants.models import Membership
from tenants.services import membership_add
from tests.factories import PASSWORD, make_client, make_resource
from tests.oauth.flows import authorize, exchange

pytestmark = pytest.mark.django_db
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Version/17.5 Mobile Safari/604.1"


def sign_in(slug, email, agent="", address="192.0.2.10"):
    http = Client(HTTP_USER_AGENT=agent, REMOTE_ADDR=address)
    assert http.post(f"/t/{slug}/login", {"username": email, "password": PASSWORD}).status_code == 302
    return http


def signed_out(http, slug) -> bool:
    return http.get(f"/t/{slug}/account/sessions").status_code == 302


def test_a_person_sees_their_sessions_and_ends_one_or_all_others(world):
    laptop = sign_in(world.slug, world.member.email, FIREFOX, "192.0.2.10")
    phone = sign_in(world.slug, world.member.email, SAFARI, "198.51.100.7")
    tablet = sign_in(world.slug, world.member.email, SAFARI, "198.51.100.8")
    page = laptop.get(f"/t/{world.slug}/account/sessions")
    text = page.content.decode()
    assert "Firefox · Windows" in text and "Safari · iOS" in text and "198.51.100.7" in text
    assert 'data-current="true"' in text and phone.cookies["sessionid"].value not in text  # keys are never shown
    handles = [s["handle"] for s in page.context["sessions"] if not s["current"]]
    assert len(handles) == 2

    phone_handle = next(s["handle"] for s in page.context["sessions"] if s["ip"] == "198.51.100.7")
    assert laptop.post(f"/t/{world.slug}/account/sessions", {"end": phone_handle}).status_code == 302
    assert signed_out(phone, world.slug) and not signed_out(tablet, world.slug)
    assert laptop.post(f"/t/{world.slug}/account/sessions", {"end": "not-mine"}).status_code == 404

    laptop.post(f"/t/{world.slug}/account/sessions", {"end": "others"})
    assert signed_out(tablet, world.slug) and not signed_out(laptop, world.slug)
    laptop.post(f"/t/{world.slug}/account/sessions", {"end": "all"})
    assert signed_out(laptop, world.slug)
    assert AuditEvent.objects.filter(action="sessions.ended", data__reason="ended_by_person").count() == 3


def test_another_persons_session_cannot_be_ended(world):
    mine = sign_in(world.slug, world.member.email)
    theirs = sign_in(world.slug, world.admin.email)
    handle = mine.get(f"/t/{world.slug}/account/sessions").context["sessions"][0]["handle"]
    assert theirs.post(f"/t/{world.slug}/account/sessions", {"end": handle}).status_code == 404
    assert not signed_out(mine, world.slug)


def test_an_admin_ends_a_members_sessions_at_the_tenant_and_their_tokens_there(world, make_world):
    other = make_world("globex")
    membership_add(tenant=other.tenant, email=world.member.email, role="member", actor=None)
    here = sign_in(world.slug, world.member.email)
    elsewhere = sign_in(other.slug, world.member.email)  # never used at acme's pages
    resource = make_resource(world.tenant, "https://mcp.acme.example/mcp")
    app, _ = make_client(world.tenant, resources=[resource])
    tokens = exchange(here, world.tenant, app, authorize(here, world.tenant, app, resource=resource.uri),
                      resource=resource.uri).json()
    membership = Membership.objects.for_tenant(world.tenant).get(user=world.member)

    admin = Client()
    admin.force_login(world.admin, backend="identity.backends.EmailBackend")
    assert admin.post(f"/console/{world.slug}/members/{membership.pk}/end-sessions").status_code == 302
    assert signed_out(here, world.slug) and not signed_out(elsewhere, other.slug)
    refreshed = Client().post(f"/t/{world.slug}/token", {"grant_type": "refresh_token", "client_id": app.client_id,
                                                        "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400
    event = AuditEvent.objects.get(tenant=world.tenant, action="sessions.ended", data__reason="ended_by_admin")
    assert event.data["sessions_ended"] == 1 and event.data["tokens_revoked"] >= 1

    # the API does the same; the response says how many
    again = sign_in(world.slug, world.member.email)
    response = admin.post(f"/api/v1/members/{membership.pk}/end-sessions", HTTP_X_TENANT=world.slug)
    assert response.status_code == 200 and response.json()["sessions_ended"] == 1
    assert signed_out(again, world.slug)
    # another tenant's admin cannot end them: the member is not theirs
    foreign = Client()
    foreign.force_login(other.admin, backend="identity.backends.EmailBackend")
    assert foreign.post(f"/console/{other.slug}/members/{membership.pk}/end-sessions").status_code == 404
    assert foreign.post(f"/api/v1/members/{membership.pk}/end-sessions",
                        HTTP_X_TENANT=other.slug).status_code == 404


def test_last_use_moves_at_most_once_a_minute(world, monkeypatch):
    http = sign_in(world.slug, world.member.email)
    row = UserSession.objects.get(user=world.member)
    first = row.last_seen_at
    http.get(f"/t/{world.slug}/")
    assert UserSession.objects.get(pk=row.pk).last_seen_at == first
    clock = time.time() + 61
    monkeypatch.setattr(tracking.time, "time", lambda: clock)
    http.get(f"/t/{world.slug}/", REMOTE_ADDR="203.0.113.50")
    moved = UserSession.objects.get(pk=row.pk)
    assert moved.last_seen_at > first and moved.ip == "203.0.113.50"


def test_devices_are_named_from_the_user_agent():
    assert device_of(FIREFOX) == "Firefox · Windows"
    assert device_of(SAFARI) == "Safari · iOS"
    assert device_of("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36") == \
        "Chrome · Linux"
    assert device_of("curl/8.5") == "curl/8.5"


def test_ending_an_sso_session_revokes_the_persons_tokens_at_its_tenant(world, make_idp, oidc_provider):
    """Tokens hang on a session opened through the tenant's provider, as its back-channel logout treats
    them: the person ending that session ends them too (a password session's agents keep theirs)."""
    from identity.models import FederatedSession

    from .conftest import new_account, sign_in_via_idp

    make_idp(world.tenant, domains=("corp.example",))
    http = Client()
    sign_in_via_idp(http, oidc_provider, f"/t/{world.slug}/sso/corp/start",
                    new_account(oidc_provider, email="ada@corp.example"))
    resource = make_resource(world.tenant, "https://mcp.acme.example/mcp")
    app, _ = make_client(world.tenant, resources=[resource])
    tokens = exchange(http, world.tenant, app, authorize(http, world.tenant, app, resource=resource.uri),
                      resource=resource.uri).json()
    (session,) = http.get(f"/t/{world.slug}/account/sessions").context["sessions"]
    assert session["current"] and FederatedSession.objects.unscoped().filter(tenant=world.tenant).exists()

    assert http.post(f"/t/{world.slug}/account/sessions", {"end": session["handle"]}).status_code == 302
    assert signed_out(http, world.slug)
    assert not FederatedSession.objects.unscoped().filter(tenant=world.tenant).exists()
    refreshed = Client().post(f"/t/{world.slug}/token", {"grant_type": "refresh_token", "client_id": app.client_id,
                                                        "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    event = AuditEvent.objects.get(action="sessions.ended", data__reason="ended_by_person")
    assert event.data["tokens_revoked"] >= 1
