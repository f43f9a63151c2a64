import pytest

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(make_user):
    return make_user("ops@platform.example", is_staff=True)


def test_staff_create_list_suspend_and_reactivate_tenants(operator, signed_in):
    client = signed_in(operator)
    created = client.post("/api/v1/tenants", {"slug": "acme", "name": "Acme"}, content_type="application/json")
    assert created.status_code == 201 and created.json()["issuer"].endswith("/t/acme")
    assert [t["slug"] for t in client.get("/api/v1/tenants?search=ac").json()["results"]] == ["acme"]
    suspended = client.post("/api/v1/tenants/acme/suspend", {"reason": "abuse report"},
                            content_type="application/json")
    assert suspended.json()["status"] == "suspended"
    assert client.post("/api/v1/tenants/acme/reactivate").json()["status"] == "active"
    assert list(AuditEvent.objects.filter(action__startswith="tenant.").order_by("seq")
                .values_list("action", flat=True)) == ["tenant.created", "tenant.suspended", "tenant.reactivated"]


def test_invalid_slug_gets_a_field_error(operator, signed_in):
    response = signed_in(operator).post("/api/v1/tenants", {"slug": "admin", "name": "x"},
                                        content_type="application/json")
    assert response.status_code == 400
    assert "reserved" in response.json()["error"]["fields"]["slug"][0]


def test_tenant_admins_are_not_platform_operators(two_tenants, signed_in):
    a, _ = two_tenants
    client = signed_in(a.owner)
    assert client.get("/api/v1/tenants").status_code == 403
    assert client.get("/console/platform/tenants/").status_code in (302, 403)


def test_openapi_schema_and_offline_swagger(client, operator, signed_in):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    body = schema.content.decode()
    assert "/api/v1/members" in body and "/api/v1/tenants/{slug}/suspend" in body
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower() and "/static/drf_spectacular_sidecar/" in html


def test_platform_console_creates_and_suspends(operator, signed_in):
    client = signed_in(operator)
    response = client.post("/console/platform/tenants/", {"slug": "zeta", "name": "Zeta", "display_name": "",
                                                          "accent_color": "#123456"})
    assert response.status_code == 302
    page = client.get("/console/platform/tenants/?q=zet").content.decode()
    assert "zeta" in page
    client.post("/console/platform/tenants/zeta/suspend", {"reason": "test"})
    assert "Suspended" in client.get("/console/platform/tenants/").content.decode()
