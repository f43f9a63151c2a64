"""Detection and enumeration oracles (issue 16, item 17): what tenant B's admins see never tells them
whether an account, a resource URI or a custom domain exists at tenant A. Each test asks B's question
once about something of A and once about something that exists nowhere, and requires the same answer."""

from __future__ import annotations

import json

import pytest
from django.contrib.messages import get_messages

from audit.services import Actor
from tests.factories import PASSWORD, make_agent, make_resource
from tests.oauth.flows import client_credentials

pytestmark = pytest.mark.django_db
TEST = Actor("test", "", "pytest")


@pytest.fixture
def b_api(two_tenants, client):
    from oauth.models import ADMIN_SCOPES, api_audience

    _, b = two_tenants
    agent, secret = make_agent(b.tenant, scopes=list(ADMIN_SCOPES), name="Bravo ops bot")
    answer = client_credentials(client, b.tenant, agent, secret, resource=api_audience())
    assert answer.status_code == 200, answer.content
    return {"HTTP_AUTHORIZATION": f"Bearer {answer.json()['access_token']}"}


def _post(client, path, body, headers):
    return client.post(path, json.dumps(body), content_type="application/json", **headers)


def _neutral(text: str, *words) -> str:
    for word in words:
        text = text.replace(word, "<x>")
    return text


def test_member_by_email_finds_members_of_this_tenant_only(two_tenants):
    from tenants.selectors import member_by_email

    a, b = two_tenants
    assert member_by_email(a.tenant, a.member.email.upper()) == a.member
    assert member_by_email(b.tenant, a.member.email) is None
    assert member_by_email(b.tenant, "") is None


def test_resource_uri_of_another_tenant_is_a_neutral_conflict(two_tenants, client, b_api):
    a, _ = two_tenants
    make_resource(a.tenant, "https://mcp.alpha.example/mcp", name="files")
    taken = _post(client, "/api/v1/resources", {"name": "mine", "uri": "https://mcp.alpha.example/mcp"}, b_api)
    assert taken.status_code == 409, taken.content
    message = taken.json()["error"]["message"]
    assert "another tenant" not in message and "alpha" not in message.replace("mcp.alpha.example", "")
    assert message == "the resource URI https://mcp.alpha.example/mcp is not available; use a URI on a host you control"


@pytest.mark.parametrize("path", ["/api/v1/token-revocations", "/api/v1/tokens/revoke"])
def test_bulk_revocation_by_email_answers_alike_for_foreign_and_unknown_accounts(two_tenants, client, b_api, path):
    a, _ = two_tenants
    foreign = _post(client, path, {"user": a.member.email}, b_api)
    unknown = _post(client, path, {"user": "nobody@nowhere.example"}, b_api)
    assert foreign.status_code == unknown.status_code, (foreign.content, unknown.content)
    assert _neutral(foreign.content.decode(), a.member.email) == _neutral(unknown.content.decode(),
                                                                          "nobody@nowhere.example")


def test_console_revocation_by_email_answers_alike(two_tenants):
    from django.test import Client

    a, b = two_tenants
    answers = []
    for email in (a.member.email, "nobody@nowhere.example"):
        for url in (f"/console/{b.slug}/tokens/revoke-matching", f"/console/{b.slug}/jobs/revoke-tokens"):
            client = Client()
            client.force_login(b.admin, backend="identity.backends.EmailBackend")
            response = client.post(url, {"user": email})
            answers.append((url, response.status_code, response["Location"],
                            [_neutral(str(m), email) for m in get_messages(response.wsgi_request)]))
    assert answers[:2] == answers[2:], answers


def test_adding_a_member_does_not_return_the_accounts_name(two_tenants, client, b_api):
    from audit.models import AuditEvent

    a, b = two_tenants
    a.member.name = "Alice Alpha"
    a.member.save(update_fields=["name"])
    added = _post(client, "/api/v1/members", {"email": a.member.email, "role": "member"}, b_api)
    fresh = _post(client, "/api/v1/members", {"email": "fresh@nowhere.example", "role": "member"}, b_api)
    assert added.status_code == fresh.status_code == 201, added.content
    assert added.json()["name"] == fresh.json()["name"] == ""
    assert "Alice" not in added.content.decode()
    # The tenant's own audit log does not say whether the address already had an account either.
    events = [e.data for e in AuditEvent.objects.filter(tenant=b.tenant, action="membership.added")]
    assert events and all(set(d) == {"email", "role"} for d in events), events
    assert AuditEvent.objects.filter(tenant=None, action="user.created", target_label="fresh@nowhere.example").exists()


def test_custom_domain_claimed_by_another_tenant_is_not_reported_as_taken(two_tenants):
    from tenants.services import tenant_update

    a, b = two_tenants
    tenant_update(tenant=a.tenant, actor=TEST, custom_domain="login.shared.example")
    b_tenant = tenant_update(tenant=b.tenant, actor=TEST, custom_domain="login.shared.example")
    assert b_tenant.custom_domain == "login.shared.example" and not b_tenant.custom_domain_verified


def test_custom_domain_is_unique_once_verified(two_tenants):
    from django.db import IntegrityError, transaction

    from tenants.models import Tenant
    from tenants.services import tenant_update

    a, b = two_tenants
    tenant_update(tenant=a.tenant, actor=TEST, custom_domain="login.shared.example")
    tenant_update(tenant=b.tenant, actor=TEST, custom_domain="login.shared.example")
    Tenant.objects.filter(pk=a.tenant.pk).update(custom_domain_verified=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        Tenant.objects.filter(pk=b.tenant.pk).update(custom_domain_verified=True)


def test_console_login_checks_the_password_before_the_sso_message(two_tenants, client):
    from identity.services import identity_provider_create

    a, _ = two_tenants
    identity_provider_create(tenant=a.tenant, name="Corp", slug="corp", client_id="platform", client_secret="secret",
                             actor=TEST, address="https://idp.corp.example", domains=["alpha.example"],
                             sso_required=True)
    wrong = client.post("/login", {"username": a.admin.email, "password": "wrong password"}).content.decode()
    unknown = client.post("/login", {"username": "nobody@alpha.example", "password": "wrong"}).content.decode()
    assert "Corp" not in wrong and "/t/alpha/login" not in wrong
    assert "do not match" in wrong and "do not match" in unknown
    right = client.post("/login", {"username": a.admin.email, "password": PASSWORD}).content.decode()
    assert "/t/alpha/login" in right and "_auth_user_id" not in client.session
