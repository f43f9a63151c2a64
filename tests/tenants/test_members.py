"""Members in the API and console, including the cross-tenant refusals every later slice repeats."""

import pytest

from audit.models import AuditEvent
from tenants.models import Membership, Role

pytestmark = pytest.mark.django_db


def api(client, tenant_slug=None):
    headers = {"HTTP_X_TENANT": tenant_slug} if tenant_slug else {}
    return client, headers


def test_admin_lists_adds_changes_and_removes_members_through_the_api(two_tenants, signed_in):
    a, _ = two_tenants
    client = signed_in(a.owner)
    listed = client.get("/api/v1/members", HTTP_X_TENANT="alpha").json()
    assert {m["email"] for m in listed["results"]} == {a.owner.email, a.admin.email, a.auditor.email,
                                                         a.member.email}
    created = client.post("/api/v1/members", {"email": "New@Alpha.example", "role": "auditor"},
                          content_type="application/json", HTTP_X_TENANT="alpha")
    assert created.status_code == 201 and created.json()["email"] == "new@alpha.example"
    member_id = created.json()["id"]
    changed = client.patch(f"/api/v1/members/{member_id}", {"role": "admin"}, content_type="application/json",
                           HTTP_X_TENANT="alpha")
    assert changed.status_code == 200 and changed.json()["role"] == "admin"
    assert client.delete(f"/api/v1/members/{member_id}", HTTP_X_TENANT="alpha").status_code == 204
    actions = list(AuditEvent.objects.filter(tenant=a.tenant, action__startswith="membership.",
                                             target_id=str(member_id)).order_by("seq").values_list("action", flat=True))
    assert actions == ["membership.added", "membership.role_changed", "membership.removed"]


def test_duplicate_member_is_a_structured_409(two_tenants, signed_in):
    a, _ = two_tenants
    response = signed_in(a.admin).post("/api/v1/members", {"email": a.member.email, "role": "member"},
                                       content_type="application/json", HTTP_X_TENANT="alpha")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "duplicate" and "already a member" in error["message"]
    assert "email" in error["fields"]


def test_invalid_input_gets_field_errors(two_tenants, signed_in):
    a, _ = two_tenants
    response = signed_in(a.admin).post("/api/v1/members", {"email": "not-an-email", "role": "king"},
                                       content_type="application/json", HTTP_X_TENANT="alpha")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"email", "role"}


def test_tenant_a_admin_gets_404_for_tenant_b_members_in_the_api(two_tenants, signed_in):
    a, b = two_tenants
    b_member = Membership.objects.get(tenant=b.tenant, user=b.member)
    client = signed_in(a.owner)
    for method, kwargs in [("get", {}), ("patch", {"data": {"role": "admin"}}), ("delete", {})]:
        response = getattr(client, method)(f"/api/v1/members/{b_member.pk}", content_type="application/json",
                                           HTTP_X_TENANT="alpha", **kwargs)
        assert response.status_code == 404, method
        assert response.json()["error"]["code"] == "not_found"
    # Naming tenant B in the header does not help: A's owner is no member there.
    response = client.get("/api/v1/members", HTTP_X_TENANT="bravo")
    assert response.status_code == 404
    assert b.member.email not in response.content.decode()
    assert Membership.objects.get(pk=b_member.pk).role == Role.MEMBER


def test_tenant_a_admin_gets_404_for_tenant_b_in_the_console(two_tenants, signed_in):
    a, b = two_tenants
    b_member = Membership.objects.get(tenant=b.tenant, user=b.member)
    client = signed_in(a.owner)
    assert client.get("/console/bravo/members/").status_code == 404
    assert client.get("/console/bravo/").status_code == 404
    assert client.post(f"/console/bravo/members/{b_member.pk}/remove").status_code == 404
    # A's own console with B's membership id: not found either.
    assert client.post(f"/console/alpha/members/{b_member.pk}/remove").status_code == 404
    assert client.post(f"/console/alpha/members/{b_member.pk}/role", {"role": "owner"}).status_code == 404
    assert Membership.objects.filter(pk=b_member.pk, role=Role.MEMBER).exists()


def test_auditor_reads_but_cannot_change_members(two_tenants, signed_in):
    a, _ = two_tenants
    client = signed_in(a.auditor)
    assert client.get("/api/v1/members", HTTP_X_TENANT="alpha").status_code == 200
    response = client.post("/api/v1/members", {"email": "x@alpha.example", "role": "member"},
                           content_type="application/json", HTTP_X_TENANT="alpha")
    assert response.status_code == 403
    assert client.post("/console/alpha/members/", {"email": "x@alpha.example", "role": "member"}).status_code == 403


def test_end_users_have_no_console_or_api(two_tenants, signed_in):
    a, _ = two_tenants
    client = signed_in(a.member)
    assert client.get("/console/alpha/").status_code == 404
    assert client.get("/api/v1/members", HTTP_X_TENANT="alpha").status_code == 404


def test_only_owners_grant_ownership_and_the_last_owner_stays(two_tenants, signed_in):
    a, _ = two_tenants
    admin_client = signed_in(a.admin)
    member = Membership.objects.get(tenant=a.tenant, user=a.member)
    response = admin_client.patch(f"/api/v1/members/{member.pk}", {"role": "owner"},
                                  content_type="application/json", HTTP_X_TENANT="alpha")
    assert response.status_code == 403 and "only an owner" in response.json()["error"]["message"]
    owner = Membership.objects.get(tenant=a.tenant, user=a.owner)
    response = signed_in(a.owner).delete(f"/api/v1/members/{owner.pk}", HTTP_X_TENANT="alpha")
    assert response.status_code == 409 and response.json()["error"]["code"] == "last_owner"


def test_console_members_page_adds_and_reports_duplicates(two_tenants, signed_in):
    a, _ = two_tenants
    client = signed_in(a.admin)
    response = client.post("/console/alpha/members/", {"email": "fresh@alpha.example", "role": "member"})
    assert response.status_code == 302
    assert Membership.objects.filter(tenant=a.tenant, user__email="fresh@alpha.example").exists()
    again = client.post("/console/alpha/members/", {"email": "fresh@alpha.example", "role": "member"})
    assert again.status_code == 400 and b"already a member" in again.content


def test_api_without_a_tenant_choice_asks_for_one(make_world, signed_in):
    a, b = make_world("alpha"), make_world("bravo")
    from tenants.models import Membership as M

    M.objects.create(tenant=b.tenant, user=a.owner, role=Role.ADMIN)
    response = signed_in(a.owner).get("/api/v1/members")
    assert response.status_code == 403 and "X-Tenant" in response.json()["error"]["message"]


def test_anonymous_api_calls_are_401_or_403_with_the_error_format(client, two_tenants):
    response = client.get("/api/v1/members")
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] in ("not_authenticated", "permission_denied")
