"""A session opened through tenant A's identity provider is worth nothing at tenant B.

A's administrators control A's provider and can make it assert any person. Users are platform-wide, so
without the binding a person JIT-provisioned by A's provider and later added to tenant B by e-mail could
be impersonated at B by A's administrators.
"""

import pytest

from tenants.models import Membership, Role
from tests.conftest import PASSWORD
from tests.oauth.factories import authorize_url, make_client, make_resource, pkce_pair
from tests.sso.conftest import new_account, sign_in_via_idp

pytestmark = pytest.mark.django_db


def test_an_sso_session_of_tenant_a_is_no_member_session_at_tenant_b(two_tenants, make_idp, oidc_provider, client):
    a, b = two_tenants
    make_idp(a.tenant)
    login = new_account(oidc_provider, email="dual@corp.example", groups=["mcp-admins"])
    response, _ = sign_in_via_idp(client, oidc_provider, "/t/alpha/sso/corp/start", login)
    assert response.status_code == 302
    person = Membership.objects.get(tenant=a.tenant, user__email="dual@corp.example").user
    Membership.objects.create(tenant=b.tenant, user=person, role=Role.ADMIN)  # B's admin added them by e-mail

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
