"""Custom domains, end to end against a real DNS server run here (dnslib, UDP on 127.0.0.1:<free port>):
claimed through the API or console, proven by a TXT record, served with their own issuer (Django's
ALLOWED_HOSTS untouched), re-checked on schedule, and never claimable by a second tenant."""

from __future__ import annotations

import threading

import pytest
from django.test import Client
from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSServer

from audit.models import AuditEvent
from tenants.models import Tenant
from tests.conftest import free_port

DOMAIN = "auth.acme-corp.example"
METADATA = "/.well-known/oauth-authorization-server"


class Zone(BaseResolver):
    """An authoritative answer for the names in ``records`` (name -> TXT values), NXDOMAIN for the rest."""

    def __init__(self):
        self.records: dict[str, list[str]] = {}
        self.queries: list[str] = []
        self.lock = threading.Lock()

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        with self.lock:
            self.queries.append(name)
            values = list(self.records.get(name, ()))
        if not values:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.TXT:
            for value in values:
                reply.add_answer(RR(name, QTYPE.TXT, rdata=TXT(value), ttl=0))
        return reply

    def publish(self, domain: str, *values: str):
        with self.lock:
            self.records[f"_mcp-auth-challenge.{domain}"] = list(values)

    def withdraw(self, domain: str):
        with self.lock:
            self.records.pop(f"_mcp-auth-challenge.{domain}", None)


@pytest.fixture(scope="module")
def dns_server():
    zone = Zone()
    port = free_port()
    server = DNSServer(zone, address="127.0.0.1", port=port)  # UDP, what dnspython asks first
    server.start_thread()
    yield zone, port
    server.stop()


@pytest.fixture
def zone(dns_server, settings):
    zone, port = dns_server
    zone.records.clear()
    settings.CUSTOM_DOMAIN_DNS_SERVERS = [("127.0.0.1", port)]
    return zone


@pytest.fixture
def admin_api(db):
    """A session of the tenant's admin, naming the tenant: one client per tenant, so two can act side by side."""
    def api(world):
        client = Client(HTTP_X_TENANT=world.slug)
        client.force_login(world.admin, backend="identity.backends.EmailBackend")
        return client
    return api


def actions(tenant, prefix="tenant.custom_domain"):
    return list(AuditEvent.objects.filter(tenant=tenant, action__startswith=prefix).order_by("seq")
                .values_list("action", flat=True))


@pytest.mark.django_db
def test_a_custom_domain_goes_from_added_to_verified_to_serving_its_issuer(client, world, admin_api, zone, settings):
    assert DOMAIN not in settings.ALLOWED_HOSTS  # nothing is configured for it: verification alone opens it
    api = admin_api(world)
    added = api.put("/api/v1/tenant/custom-domain", {"domain": "Auth.ACME-corp.example."},
                    content_type="application/json")
    assert added.status_code == 200, added.content
    body = added.json()
    assert body["domain"] == DOMAIN and body["verified"] is False
    assert body["record_name"] == f"_mcp-auth-challenge.{DOMAIN}" and body["record_type"] == "TXT"
    token = body["record_value"]
    assert len(token) >= 32 and api.get("/api/v1/tenant/custom-domain").json()["record_value"] == token

    # Unverified: the platform does not answer for the name at all, and the issuer is unchanged.
    assert client.get(METADATA, HTTP_HOST=DOMAIN).status_code == 400
    refused = api.post("/api/v1/tenant/custom-domain/verify")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "domain_not_verified"
    assert "does not exist" in refused.json()["error"]["message"]
    zone.publish(DOMAIN, "someone-else's-token")
    assert "does not hold" in api.post("/api/v1/tenant/custom-domain/verify").json()["error"]["message"]
    assert client.get(METADATA, HTTP_HOST=DOMAIN).status_code == 400

    zone.publish(DOMAIN, "v=unrelated", token)
    verified = api.post("/api/v1/tenant/custom-domain/verify")
    assert verified.status_code == 200 and verified.json()["verified"] is True
    assert f"_mcp-auth-challenge.{DOMAIN}" in zone.queries  # asked our server, not the system's

    served = client.get(METADATA, HTTP_HOST=DOMAIN)
    assert served.status_code == 200
    assert served.json()["issuer"] == f"https://{DOMAIN}"
    assert served.json()["token_endpoint"] == f"https://{DOMAIN}/token"
    assert client.get("/.well-known/openid-configuration", HTTP_HOST=f"{DOMAIN}:443").json()["issuer"] == \
        f"https://{DOMAIN}"
    assert Client().get("/api/v1/tenant", HTTP_X_TENANT=world.slug).status_code in (401, 403)  # anonymous
    assert api.get("/api/v1/tenant").json()["issuer"] == f"https://{DOMAIN}"
    assert actions(world.tenant) == ["tenant.custom_domain_added", "tenant.custom_domain_check_failed",
                                     "tenant.custom_domain_check_failed", "tenant.custom_domain_verified"]

    # Removed: it stops answering at once.
    assert api.delete("/api/v1/tenant/custom-domain").status_code == 204
    assert client.get(METADATA, HTTP_HOST=DOMAIN).status_code == 400
    assert api.get("/api/v1/tenant/custom-domain").status_code == 404
    assert actions(world.tenant)[-1] == "tenant.custom_domain_removed"


@pytest.mark.django_db
def test_another_tenant_can_neither_verify_nor_take_a_domain_one_tenant_verified(client, two_tenants, admin_api,
                                                                              zone):
    a, b = two_tenants
    a_api, b_api = admin_api(a), admin_api(b)
    a_token = a_api.put("/api/v1/tenant/custom-domain", {"domain": DOMAIN},
                        content_type="application/json").json()["record_value"]
    zone.publish(DOMAIN, a_token)
    assert a_api.post("/api/v1/tenant/custom-domain/verify").status_code == 200

    # B may type the name (a claim never says whether another tenant holds it) but gets its own token, and
    # A's published record proves nothing for B.
    b_claim = b_api.put("/api/v1/tenant/custom-domain", {"domain": DOMAIN}, content_type="application/json")
    assert b_claim.status_code == 200 and b_claim.json()["record_value"] != a_token
    assert "does not hold" in b_api.post("/api/v1/tenant/custom-domain/verify").json()["error"]["message"]
    # Even with B's token in the zone too, A keeps the name while its own record stays.
    zone.publish(DOMAIN, a_token, b_claim.json()["record_value"])
    refused = b_api.post("/api/v1/tenant/custom-domain/verify")
    assert refused.status_code == 409 and "in use by another tenant" in refused.json()["error"]["message"]
    assert client.get(METADATA, HTTP_HOST=DOMAIN).json()["issuer"] == f"https://{DOMAIN}"
    assert Tenant.objects.get(pk=a.tenant.pk).issuer == f"https://{DOMAIN}"
    assert Tenant.objects.get(pk=b.tenant.pk).custom_domain_verified is False


@pytest.mark.django_db
def test_a_withdrawn_record_makes_the_domain_unverified_after_the_scheduled_rechecks(client, world, admin_api, zone,
                                                                                    settings):
    from mcp_platform.celery import beat_schedule
    from tenants.tasks import recheck_custom_domains

    assert "tenants.recheck_custom_domains" in {entry["task"] for entry in beat_schedule(settings).values()}
    settings.CUSTOM_DOMAIN_MAX_FAILURES = 2
    api = admin_api(world)
    zone.publish(DOMAIN, api.put("/api/v1/tenant/custom-domain", {"domain": DOMAIN},
                                 content_type="application/json").json()["record_value"])
    assert api.post("/api/v1/tenant/custom-domain/verify").status_code == 200

    recheck_custom_domains()  # record still there: nothing changes, nothing audited
    assert Tenant.objects.get(pk=world.tenant.pk).custom_domain_failures == 0
    zone.withdraw(DOMAIN)
    recheck_custom_domains()  # one failure: a DNS hiccup must not cut the tenant off at once
    tenant = Tenant.objects.get(pk=world.tenant.pk)
    assert tenant.custom_domain_verified and tenant.custom_domain_failures == 1
    assert client.get(METADATA, HTTP_HOST=DOMAIN).status_code == 200
    recheck_custom_domains()
    tenant = Tenant.objects.get(pk=world.tenant.pk)
    assert not tenant.custom_domain_verified and tenant.custom_domain_failures == 2
    assert client.get(METADATA, HTTP_HOST=DOMAIN).status_code == 400
    assert tenant.issuer.endswith(f"/t/{world.slug}")
    unverified = AuditEvent.objects.get(tenant=world.tenant, action="tenant.custom_domain_unverified")
    assert unverified.data["domain"] == DOMAIN and unverified.severity == "warning"
    assert actions(world.tenant)[-3:] == ["tenant.custom_domain_check_failed", "tenant.custom_domain_check_failed",
                                          "tenant.custom_domain_unverified"]


@pytest.mark.django_db
def test_custom_domain_and_branding_api_is_the_callers_tenant_only(two_tenants, signed_in, admin_api, zone):
    a, b = two_tenants
    a_api = admin_api(a)
    a_api.put("/api/v1/tenant/custom-domain", {"domain": DOMAIN}, content_type="application/json")
    b_admin = signed_in(b.admin)
    for method, path in (("get", "/api/v1/tenant"), ("patch", "/api/v1/tenant"),
                         ("get", "/api/v1/tenant/custom-domain"), ("put", "/api/v1/tenant/custom-domain"),
                         ("post", "/api/v1/tenant/custom-domain/verify"), ("delete", "/api/v1/tenant/custom-domain")):
        response = getattr(b_admin, method)(path, {"domain": "evil.example", "display_name": "pwned"} if method in
                                            ("put", "patch") else None, content_type="application/json",
                                            HTTP_X_TENANT=a.slug)
        assert response.status_code == 404, (method, path, response.content)
    a_tenant = Tenant.objects.get(pk=a.tenant.pk)
    assert a_tenant.custom_domain == DOMAIN and a_tenant.display_name == ""
    assert b.tenant.custom_domain is None

    # Within its own tenant an auditor reads but cannot change; a plain member sees nothing.
    auditor = signed_in(a.auditor)
    assert auditor.get("/api/v1/tenant/custom-domain", HTTP_X_TENANT=a.slug).status_code == 200
    assert auditor.delete("/api/v1/tenant/custom-domain", HTTP_X_TENANT=a.slug).status_code == 403
    assert auditor.post("/api/v1/tenant/custom-domain/verify", HTTP_X_TENANT=a.slug).status_code == 403
    assert signed_in(a.member).get("/api/v1/tenant/custom-domain", HTTP_X_TENANT=a.slug).status_code == 404


@pytest.mark.django_db
def test_branding_is_writable_through_the_api(world, admin_api):
    api = admin_api(world)
    changed = api.patch("/api/v1/tenant", {"display_name": "ACME Inc.", "accent_color": "#112233",
                                           "logo_url": "https://acme.example/logo.png", "name": "Acme"},
                        content_type="application/json")
    assert changed.status_code == 200, changed.content
    tenant = Tenant.objects.get(pk=world.tenant.pk)
    assert (tenant.display_name, tenant.accent_color, tenant.logo_url) == ("ACME Inc.", "#112233",
                                                                         "https://acme.example/logo.png")
    assert AuditEvent.objects.filter(tenant=tenant, action="tenant.updated").latest("seq").data["changed"] == [
        "accent_color", "display_name", "logo_url"]
    bad = api.patch("/api/v1/tenant", {"accent_color": "red", "logo_url": "http://acme.example/logo.png"},
                    content_type="application/json")
    assert bad.status_code == 400 and {"accent_color", "logo_url"} <= set(bad.json()["error"]["fields"])
    # The slug and the domain's state are not branding: not changed by a PATCH here.
    api.patch("/api/v1/tenant", {"slug": "other", "custom_domain_verified": True}, content_type="application/json")
    tenant = Tenant.objects.get(pk=world.tenant.pk)
    assert tenant.slug == world.slug and not tenant.custom_domain_verified


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["127.0.0.1", "localhost", "testserver", "no-dot", "bad_label.example",
                                   "-x.example", "a." * 127 + "example"])
def test_a_custom_domain_must_be_a_public_name_not_the_platforms(world, admin_api, value):
    response = admin_api(world).put("/api/v1/tenant/custom-domain", {"domain": value},
                                    content_type="application/json")
    assert response.status_code == 400 and "domain" in response.json()["error"]["fields"]
    assert Tenant.objects.get(pk=world.tenant.pk).custom_domain is None


@pytest.mark.django_db
def test_console_shows_the_record_verifies_and_removes(world, signed_in, zone):
    console = signed_in(world.admin)
    settings_url = f"/console/{world.slug}/settings/"
    page = console.get(settings_url)
    form = {f: page.context["form"].initial.get(f) or "" for f in ("name", "display_name", "logo_url",
                                                                    "accent_color")}
    assert console.post(settings_url, {**form, "custom_domain": DOMAIN}).status_code == 302
    token = Tenant.objects.get(pk=world.tenant.pk).custom_domain_token
    page = console.get(settings_url).content.decode()
    assert f"_mcp-auth-challenge.{DOMAIN}" in page and token in page and "not verified yet" in page
    zone.publish(DOMAIN, token)
    verified = console.post(f"{settings_url}custom-domain/verify", follow=True).content.decode()
    assert "is verified" in verified and f"https://{DOMAIN}" in verified
    assert Tenant.objects.get(pk=world.tenant.pk).custom_domain_verified
    console.post(f"{settings_url}custom-domain/remove")
    assert Tenant.objects.get(pk=world.tenant.pk).custom_domain is None
    # An auditor sees the page but cannot act.
    assert signed_in(world.auditor).post(f"{settings_url}custom-domain/verify").status_code == 403


def test_dns_servers_setting_takes_addresses_with_optional_ports():
    from django.core.exceptions import ImproperlyConfigured

    from mcp_platform.settings import _dns_servers

    assert _dns_servers(["10.0.0.53", "127.0.0.1:5353", "[::1]:53", " "]) == [
        ("10.0.0.53", 53), ("127.0.0.1", 5353), ("::1", 53)]
    with pytest.raises(ImproperlyConfigured, match="not an IP address"):
        _dns_servers(["dns.example.com"])


@pytest.mark.django_db
def test_an_unreachable_resolver_is_a_clear_refusal_not_an_error(world, admin_api):
    import time

    api = admin_api(world)  # the suite's resolver: a loopback port where nothing listens (tests/conftest.py)
    api.put("/api/v1/tenant/custom-domain", {"domain": DOMAIN}, content_type="application/json")
    started = time.monotonic()
    refused = api.post("/api/v1/tenant/custom-domain/verify")
    assert refused.status_code == 409 and DOMAIN in refused.json()["error"]["message"]
    assert time.monotonic() - started < 3  # bounded by the query's lifetime (0.5 s in the suite)
    assert not Tenant.objects.get(pk=world.tenant.pk).custom_domain_verified
