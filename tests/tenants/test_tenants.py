import pytest

from audit.models import AuditEvent
from audit.services import Actor
from kit.errors import ApplicationError
from tenants.models import Tenant
from tenants.services import tenant_create, tenant_reactivate, tenant_suspend, tenant_update

pytestmark = pytest.mark.django_db
OPERATOR = Actor("test", "", "pytest")


@pytest.mark.parametrize("slug", ["admin", "api", "well-known", "-acme", "acme-", "Acme Corp", "a" * 41, ""])
def test_invalid_or_reserved_slugs_are_refused_with_a_clear_message(slug):
    with pytest.raises(ApplicationError) as err:
        tenant_create(slug=slug, name="X", actor=OPERATOR)
    assert err.value.field == "slug"
    assert "reserved" in str(err.value) or "letters" in str(err.value)
    assert not Tenant.objects.exists()


def test_tenant_create_records_an_event_and_computes_the_issuer(settings):
    settings.PUBLIC_URL = "https://auth.example.com"
    tenant = tenant_create(slug="acme", name="Acme", actor=OPERATOR)
    assert tenant.issuer == "https://auth.example.com/t/acme"
    event = AuditEvent.objects.get(tenant=tenant, action="tenant.created")
    assert event.actor_label == "pytest" and event.data["slug"] == "acme"


def test_duplicate_slug_is_a_clear_error(make_tenant):
    make_tenant("acme")
    with pytest.raises(ApplicationError, match="already exists"):
        tenant_create(slug="acme", name="Again", actor=OPERATOR)


def test_verified_custom_domain_becomes_the_issuer(make_tenant):
    tenant = make_tenant("acme")
    tenant_update(tenant=tenant, actor=OPERATOR, custom_domain="Auth.Acme.COM")
    assert tenant.custom_domain == "auth.acme.com" and not tenant.custom_domain_verified
    assert tenant.issuer.endswith("/t/acme")
    tenant.custom_domain_verified = True
    assert tenant.issuer == "https://auth.acme.com"


def test_every_tenant_change_is_audited(make_tenant):
    tenant = make_tenant("acme")
    tenant_update(tenant=tenant, actor=OPERATOR, display_name="ACME Inc.", accent_color="#112233")
    tenant_suspend(tenant=tenant, actor=OPERATOR, reason="unpaid invoice")
    tenant_reactivate(tenant=tenant, actor=OPERATOR)
    actions = list(AuditEvent.objects.filter(tenant=tenant, action__startswith="tenant.").order_by("seq")
                   .values_list("action", flat=True))  # oauth adds key.created for the tenant's first key
    assert actions == ["tenant.created", "tenant.updated", "tenant.suspended", "tenant.reactivated"]
    assert AuditEvent.objects.get(tenant=tenant, action="tenant.updated").data["changed"] == [
        "accent_color", "display_name"]


def test_suspend_needs_a_reason(make_tenant):
    with pytest.raises(ApplicationError, match="reason"):
        tenant_suspend(tenant=make_tenant("acme"), actor=OPERATOR, reason=" ")


def test_unknown_tenant_is_a_404_in_json_and_html(client):
    response = client.get("/t/nope/.well-known/openid-configuration")
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_tenant"
    response = client.get("/.well-known/oauth-authorization-server/t/nope")
    assert response.status_code == 404 and response.json()["error"] == "unknown_tenant"
    response = client.get("/t/nope/login", HTTP_ACCEPT="text/html")
    assert response.status_code == 404 and b"no tenant" in response.content.lower()


def test_suspended_tenant_answers_every_tenant_endpoint_with_the_reason(make_tenant, client):
    tenant = make_tenant("acme")
    tenant_suspend(tenant=tenant, actor=OPERATOR, reason="security review")
    for path in ["/t/acme/login", "/t/acme/token", "/.well-known/oauth-authorization-server/t/acme"]:
        response = client.get(path)
        assert response.status_code == 403, path
        assert response.json() == {"error": "tenant_suspended",
                                   "error_description": "Tenant 'acme' is suspended: security review"}
    html = client.get("/t/acme/login", HTTP_ACCEPT="text/html")
    assert html.status_code == 403 and b"security review" in html.content


def test_tenant_owned_manager_is_scoped_to_the_bound_tenant(two_tenants):
    from kit.tenancy import tenant_context
    from tenants.models import Membership

    a, b = two_tenants
    with tenant_context(a.tenant):
        assert set(Membership.objects.values_list("tenant__slug", flat=True)) == {"alpha"}
        with pytest.raises(PermissionError):
            Membership.objects.for_tenant(b.tenant)
    assert Membership.objects.for_tenant(b.tenant).count() == 4
    assert Membership.objects.count() == 8


def test_security_headers_on_pages(client):
    response = client.get("/login")
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Request-ID"]


def test_health_and_readiness(client, settings):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"
    if settings.REDIS_URL:
        assert ready.json()["checks"]["redis"] == "ok"


def test_readiness_reports_an_unreachable_redis(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("error")
