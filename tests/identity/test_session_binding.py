"""A session opened through tenant A's identity provider is worth nothing at tenant B.

A's administrators control A's provider and can make it assert any person. Users are platform-wide, so
without the binding a person JIT-provisioned by A's provider and later added to tenant B by e-mail could
be impersonated at B by A's administrators.
"""

import pytest

from tenants.models import Membership, Role
from tests.factories import PASSWORD, add_member, make_client, make_resource
from tests.identity.conftest import new_account, sign_in_via_idp
from tests.oauth.flows import authorize_url, pkce_pair

pytestmark = pytest.mark.django_db


def test_an_sso_session_of_tenant_a_is_no_member_session_at_tenant_b(two_tenants, make_idp, oidc_provider, client):
    a, b = two_tenants
    make_idp(a.tenant)
    login = new_account(oidc_provider, email="dual@corp.example", groups=["mcp-admins"])
    response, _ = sign_in_via_idp(client, oidc_provider, "/t/alpha/sso/corp/start", login)
    assert response.status_code == 302
    person = Membership.objects.get(tenant=a.tenant, user__email="dual@corp.example").user
    add_member(b.tenant, person, Role.ADMIN)  # B's admin added them by e-mail

    assert client.get("/console/alpha/").status_code == 200
    assert client.get("/console/bravo/").status_code == 404
    assert client.get("/api/v1/members", HTTP_X_TENANT="bravo").status_code == 404
    assert "bravo" not in client.get("/console/").content.decode()
    resource = make_resource(b.tenant, "https://mcp.bravo.example/mcp")
    app, _ = make_client(b.tenant, resources=[resource])
    authorize = client.get(authorize_url(b.tenant, app, resource=resource.uri, challenge=pkce_pair()[1]))
    assert authorize.status_code == 403 and b"not a member of Bravo" in authorize.content

    # A password sign-in is platform-wide again.
    person.set_password(PASSWORD)
    person.save()
    client.post("/login", {"username": person.email, "password": PASSWORD})
    assert client.get("/console/bravo/").status_code == 200
    assert client.get(authorize_url(b.tenant, app, resource=resource.uri, challenge=pkce_pair()[1])).status_code == 200


def test_an_sso_session_of_tenant_a_neither_lists_nor_revokes_connected_apps_at_tenant_b(
        two_tenants, make_idp, oidc_provider, client):
    """Issue 16 item 8: /t/<B>/account/apps with a session bound to A is a sign-in page, not B's grants."""
    from django.test import Client

    from oauth.models import Consent
    from tests.oauth.flows import authorize

    a, b = two_tenants
    make_idp(a.tenant)
    login = new_account(oidc_provider, email="dual@corp.example")
    assert sign_in_via_idp(client, oidc_provider, "/t/alpha/sso/corp/start", login)[0].status_code == 302
    person = Membership.objects.get(tenant=a.tenant, user__email="dual@corp.example").user
    add_member(b.tenant, person, Role.MEMBER)
    resource = make_resource(b.tenant, "https://mcp.bravo.example/mcp")
    app, _ = make_client(b.tenant, resources=[resource], name="Bravo Notes")
    own = Client()
    own.force_login(person, backend="identity.backends.EmailBackend")  # the person's own sign-in at B
    authorize(own, b.tenant, app, resource=resource.uri)
    consent = Consent.objects.get(tenant=b.tenant, user=person)

    listed = client.get("/t/bravo/account/apps")
    assert listed.status_code == 302 and "/t/bravo/" in listed["Location"] and b"Bravo Notes" not in listed.content
    revoked = client.post(f"/t/bravo/account/apps/{consent.pk}/revoke")
    assert revoked.status_code == 302 and "/t/bravo/" in revoked["Location"]
    assert Consent.objects.filter(pk=consent.pk).exists()
    assert client.get("/t/alpha/account/apps").status_code == 200  # at A the session counts


def test_removal_ends_the_sessions_a_persons_sso_opened_at_that_tenant(two_tenants, make_idp, oidc_provider,
                                                                       client):
    """Issue 16 item 1: the removed person's session bound to the tenant is ended with the membership."""
    from identity.models import FederatedSession

    a, _ = two_tenants
    make_idp(a.tenant)
    login = new_account(oidc_provider, email="leaver@corp.example", groups=["mcp-admins"])
    assert sign_in_via_idp(client, oidc_provider, "/t/alpha/sso/corp/start", login)[0].status_code == 302
    assert client.get("/console/alpha/").status_code == 200
    membership = Membership.objects.get(tenant=a.tenant, user__email="leaver@corp.example")
    assert FederatedSession.objects.for_tenant(a.tenant).filter(identity__user=membership.user).exists()
    from django.test import Client

    owner = Client()
    owner.force_login(a.owner, backend="identity.backends.EmailBackend")
    assert owner.delete(f"/api/v1/members/{membership.pk}", HTTP_X_TENANT="alpha").status_code == 204
    assert not FederatedSession.objects.for_tenant(a.tenant).filter(identity__user=membership.user).exists()
    assert client.get("/console/alpha/").status_code == 302  # the session is gone: back to sign-in
    from audit.models import AuditEvent

    ended = AuditEvent.objects.get(tenant=a.tenant, action="sessions.ended")
    assert ended.data["reason"] == "membership_removed" and ended.data["sessions_ended"] == 1
