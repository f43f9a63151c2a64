"""Client ID Metadata Documents: the SSRF guard in production settings (https only, public addresses
only after resolution, no redirects), document checks, size and time limits, HTTP caching with ETag
re-validation, and per-tenant state. Every refusal leaves an audit event and no client."""

from __future__ import annotations

import pytest

from kit import egress
from kit.tenancy import tenant_context
from oauth.registration import cimd
from oauth.registration.models import ClientRegistration

from .conftest import events_of, set_policy
from .documents import cimd_document

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.216.34"
ANSWERS = {
    "localhost": ["127.0.0.1", "::1"],
    "internal.example": ["10.1.2.3"],
    "metadata.example": ["169.254.169.254"],
    "home.example": ["192.168.1.10"],
    "corp.example": ["172.16.4.4"],
    "cgnat.example": ["100.64.0.7"],
    "v6loop.example": ["::1"],
    "ula.example": ["fd12:3456::1"],
    "v6link.example": ["fe80::1"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "nat64.example": ["64:ff9b::a9fe:a9fe"],  # 169.254.169.254 behind the NAT64 prefix
    "split.example": [PUBLIC, "10.0.0.1"],  # one private answer spoils the whole host
}


@pytest.fixture
def fixed_dns(monkeypatch):
    """A resolver with fixed answers (the way DNS rebinding and internal names look to the fetcher)."""
    asked = []

    def resolve(host, port):
        asked.append(host)
        if host in ANSWERS:
            return ANSWERS[host]
        try:
            import ipaddress

            return [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            raise OSError(f"no such host {host}") from None

    monkeypatch.setattr(egress, "resolver", resolve)
    return asked


def _resolve(tenant, url):
    with tenant_context(tenant):
        return cimd.cimd_client(tenant, url)


@pytest.mark.parametrize("url, words", [
    ("https://127.0.0.1/client.json", "127.0.0.1"),
    ("https://localhost/client.json", "non-public"),
    ("https://[::1]/client.json", "::1"),
    ("https://169.254.169.254/latest/meta-data", "169.254.169.254"),
    ("https://10.0.0.8/client.json", "10.0.0.8"),
    ("https://internal.example/client.json", "10.1.2.3"),
    ("https://metadata.example/client.json", "169.254.169.254"),
    ("https://home.example/client.json", "192.168.1.10"),
    ("https://corp.example/client.json", "172.16.4.4"),
    ("https://cgnat.example/client.json", "100.64.0.7"),
    ("https://v6loop.example/client.json", "::1"),
    ("https://ula.example/client.json", "fd12:3456::1"),
    ("https://v6link.example/client.json", "fe80::1"),
    ("https://mapped.example/client.json", "::ffff:127.0.0.1"),
    ("https://nat64.example/client.json", "64:ff9b::a9fe:a9fe"),
    ("https://split.example/client.json", "10.0.0.1"),
    ("http://internal.example/client.json", "https"),
    ("http://127.0.0.1:8000/client.json", "https"),
    ("https://user:pw@internal.example/client.json", "userinfo"),
    ("https://nowhere.example/client.json", "resolve"),
])
def test_ssrf_guard_refuses_non_public_targets_in_production_settings(world, fixed_dns, url, words):
    set_policy(world.tenant, cimd_mode="open")
    assert _resolve(world.tenant, url) is None
    assert not ClientRegistration.objects.unscoped().filter(tenant=world.tenant).exists()
    (event,) = events_of(world.tenant, "registration.cimd_failed")
    assert event.data["cimd_url"] == url and words in event.data["reason"], event.data["reason"]
    assert event.severity == "warning"


def test_refused_cimd_client_gets_the_error_page_at_the_authorization_endpoint(world, fixed_dns, signed_in):
    set_policy(world.tenant, cimd_mode="open")
    url = "https://internal.example/client.json"
    response = signed_in(world.member).get(f"/t/{world.slug}/authorize", {
        "response_type": "code", "client_id": url, "redirect_uri": "http://127.0.0.1:33418/callback",
        "code_challenge": "x" * 43, "code_challenge_method": "S256", "state": "s"})
    assert response.status_code == 400 and b"not registered" in response.content
    assert events_of(world.tenant, "registration.cimd_failed")


@pytest.fixture
def loopback_documents(settings, http_documents):
    """Development/test mode: loopback http documents are allowed, everything else still guarded."""
    settings.REGISTRATION_CIMD_ALLOW_LOOPBACK = True
    return http_documents


def test_redirects_are_not_followed_even_to_allowed_hosts(world, loopback_documents):
    set_policy(world.tenant, cimd_mode="open")
    url = loopback_documents.put("/client.json", b"", status=302,
                                 headers={"Location": "http://169.254.169.254/latest/meta-data"})
    assert _resolve(world.tenant, url) is None
    (event,) = events_of(world.tenant, "registration.cimd_failed")
    assert "redirects" in event.data["reason"] and "169.254.169.254" in event.data["reason"]
    assert loopback_documents.hits("/client.json") == 1


@pytest.mark.parametrize("answer, words", [
    ({"body": b"x" * 20_000, "headers": {"Content-Length": "20000"}}, "larger than"),
    # Framing h11 does not accept (Transfer-Encoding other than chunked) is no usable answer; the cap on a
    # body streamed without a length is in tests/kit/test_egress_matrix.py.
    ({"body": b'{"a": "' + b"x" * 20_000 + b'"}', "headers": {"Transfer-Encoding": "identity"}},
     "usable HTTP response"),
    ({"body": b"<html>hi</html>", "headers": {"Content-Type": "text/html"}}, "not JSON"),
    ({"body": b"{broken", }, "not valid JSON"),
    ({"body": b"[]", }, "JSON object"),
    ({"body": b"{}", "status": 404}, "HTTP 404"),
])
def test_bad_documents_are_refused(world, loopback_documents, answer, words):
    set_policy(world.tenant, cimd_mode="open")
    url = loopback_documents.put("/client.json", **answer)
    assert _resolve(world.tenant, url) is None
    (event,) = events_of(world.tenant, "registration.cimd_failed")
    assert words in event.data["reason"], event.data["reason"]


def test_slow_document_is_cut_off_at_the_time_limit(world, loopback_documents, settings):
    import time

    from oauth2_provider.settings import oauth2_settings

    set_policy(world.tenant, cimd_mode="open")
    url = loopback_documents.url + "/slow.json"
    loopback_documents.put("/slow.json", cimd_document(url), drip=0.05)  # ~15 s for the whole body
    started = time.monotonic()
    assert _resolve(world.tenant, url) is None
    assert time.monotonic() - started < oauth2_settings.CIMD_FETCH_TIMEOUT_SECONDS + 2
    (event,) = events_of(world.tenant, "registration.cimd_failed")
    assert "time" in event.data["reason"] or "timed out" in event.data["reason"].lower(), event.data["reason"]


@pytest.mark.parametrize("overrides, words", [
    ({"client_id": "https://other.example/client.json"}, "client_id is not the URL"),
    ({"redirect_uris": None}, "redirect_uris"),
    ({"token_endpoint_auth_method": "client_secret_basic"}, "shared secret"),
    ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks"),
    ({"client_secret": "s3cret"}, "client_secret"),
    ({"redirect_uris": ["javascript:alert(1)"]}, "redirect URI"),
])
def test_document_content_is_validated(world, loopback_documents, overrides, words):
    set_policy(world.tenant, cimd_mode="open")
    url = loopback_documents.url + "/client.json"
    loopback_documents.put("/client.json", cimd_document(url, **overrides))
    assert _resolve(world.tenant, url) is None
    (event,) = events_of(world.tenant, "registration.cimd_failed")
    assert words in event.data["reason"], event.data["reason"]


def test_private_key_jwt_document_with_jwks_uri_is_accepted(world, resource, loopback_documents):
    set_policy(world.tenant, cimd_mode="open")
    url = loopback_documents.url + "/agent.json"
    loopback_documents.put("/agent.json", cimd_document(url, token_endpoint_auth_method="private_key_jwt",
                                                        jwks_uri="https://agent.example/jwks.json"))
    client = _resolve(world.tenant, url)
    assert client is not None and client.token_endpoint_auth_method == "private_key_jwt"
    assert client.jwks_uri == "https://agent.example/jwks.json" and client.client_type == "confidential"


def test_documents_are_cached_per_cache_control_and_revalidated_with_etag(world, resource, loopback_documents):
    from datetime import timedelta

    from django.utils import timezone

    set_policy(world.tenant, cimd_mode="open")
    url = loopback_documents.url + "/client.json"
    loopback_documents.put("/client.json", cimd_document(url), headers={"Cache-Control": "max-age=900",
                                                                       "ETag": '"v1"'})
    first = _resolve(world.tenant, url)
    assert _resolve(world.tenant, url).pk == first.pk
    assert loopback_documents.hits("/client.json") == 1  # fresh: no second fetch
    registration = ClientRegistration.objects.unscoped().get(cimd_url=url)
    assert 890 <= (registration.cimd_expires_at - timezone.now()).total_seconds() <= 900

    ClientRegistration.objects.unscoped().filter(pk=registration.pk).update(
        cimd_expires_at=timezone.now() - timedelta(seconds=1))
    assert _resolve(world.tenant, url).pk == first.pk
    assert loopback_documents.hits("/client.json") == 2
    assert loopback_documents.requests[-1][1].get("If-None-Match") == '"v1"'  # answered 304
    assert not events_of(world.tenant, "registration.cimd_changed")

    # The document changes: the next re-fetch updates the client and records the change.
    loopback_documents.put("/client.json", cimd_document(url, client_name="Notes CLI 2",
                                                         redirect_uris=["http://127.0.0.1:9999/cb"]),
                           headers={"Cache-Control": "max-age=900", "ETag": '"v2"'})
    ClientRegistration.objects.unscoped().filter(pk=registration.pk).update(
        cimd_expires_at=timezone.now() - timedelta(seconds=1))
    client = _resolve(world.tenant, url)
    assert client.name == "Notes CLI 2" and client.redirect_uris == "http://127.0.0.1:9999/cb"
    assert events_of(world.tenant, "registration.cimd_changed")


def test_a_known_client_survives_a_failed_refetch_with_its_last_good_document(world, resource, loopback_documents):
    from django.utils import timezone

    set_policy(world.tenant, cimd_mode="open")
    url = loopback_documents.url + "/client.json"
    loopback_documents.put("/client.json", cimd_document(url))
    first = _resolve(world.tenant, url)
    loopback_documents.put("/client.json", b"oops", status=500)
    ClientRegistration.objects.unscoped().filter(cimd_url=url).update(cimd_expires_at=timezone.now())
    assert _resolve(world.tenant, url).pk == first.pk
    assert events_of(world.tenant, "registration.cimd_failed")


def test_one_document_makes_independent_clients_at_two_tenants(two_tenants, loopback_documents):
    from oauth.registration import services

    from .conftest import ACTOR

    a, b = two_tenants
    set_policy(a.tenant, cimd_mode="open")
    url = loopback_documents.url + "/client.json"
    loopback_documents.put("/client.json", cimd_document(url))
    at_a, at_b = _resolve(a.tenant, url), _resolve(b.tenant, url)  # b: default policy "approval"
    assert at_a.pk != at_b.pk and at_a.client_id != at_b.client_id
    assert (at_a.tenant_id, at_a.status) == (a.tenant.pk, "approved")
    assert (at_b.tenant_id, at_b.status) == (b.tenant.pk, "pending")
    services.registration_reject(registration=at_b.registration, actor=ACTOR, reason="not for us")
    assert _resolve(a.tenant, url).status == "approved"


def test_closed_cimd_policy_makes_no_outbound_request(world, loopback_documents):
    set_policy(world.tenant, cimd_mode="closed")
    url = loopback_documents.put("/client.json", cimd_document(loopback_documents.url + "/client.json"))
    assert _resolve(world.tenant, url) is None
    assert loopback_documents.hits("/client.json") == 0


def test_pending_cimd_client_lands_on_the_awaiting_approval_page(world, resource, loopback_documents, signed_in):
    from tests.oauth.flows import pkce_pair

    url = loopback_documents.url + "/client.json"
    loopback_documents.put("/client.json", cimd_document(url))
    _, challenge = pkce_pair()
    page = signed_in(world.member).get(f"/t/{world.slug}/authorize", {
        "response_type": "code", "client_id": url, "redirect_uri": "http://127.0.0.1:33418/callback",
        "code_challenge": challenge, "code_challenge_method": "S256", "state": "s", "resource": resource.uri})
    assert page.status_code == 403 and b"Notes CLI is awaiting approval" in page.content
    registration = ClientRegistration.objects.unscoped().get(tenant=world.tenant, cimd_url=url)
    assert registration.decision_rule == "policy: cimd approval"


def test_cimd_url_rule_approves_matching_documents(world, resource, https_documents):
    from oauth.registration import services

    from .conftest import ACTOR

    services.rule_create(tenant=world.tenant, actor=ACTOR, kind="cimd_url", pattern=https_documents.url + "/apps/")
    approved_url = https_documents.url + "/apps/notes.json"
    other_url = https_documents.url + "/elsewhere/notes.json"
    https_documents.put("/apps/notes.json", cimd_document(approved_url))
    https_documents.put("/elsewhere/notes.json", cimd_document(other_url))
    assert _resolve(world.tenant, approved_url).status == "approved"
    assert _resolve(world.tenant, other_url).status == "pending"
    assert ClientRegistration.objects.unscoped().get(cimd_url=approved_url).decision_rule.startswith(
        "rule #10 cimd_url")


@pytest.mark.parametrize("url", ["http://[::1", "https://[::1/x", "https://host.example:99999/x",
                                 "https://exa mple.com/x", "https://%zz/x", "https:///nohost"])
def test_malformed_client_id_urls_are_unknown_clients_not_errors(world, fixed_dns, url):
    set_policy(world.tenant, cimd_mode="open")
    assert _resolve(world.tenant, url) is None
    assert events_of(world.tenant, "registration.cimd_failed")


def test_a_document_behind_an_untrusted_certificate_is_refused(world, https_documents, settings):
    set_policy(world.tenant, cimd_mode="open")
    settings.REGISTRATION_CIMD_CA_FILE = ""  # the system trust store does not know the test CA
    url = https_documents.url + "/client.json"
    https_documents.put("/client.json", cimd_document(url))
    assert _resolve(world.tenant, url) is None
    (event,) = events_of(world.tenant, "registration.cimd_failed")
    assert "CERTIFICATE_VERIFY_FAILED" in event.data["reason"] or "certificate" in event.data["reason"].lower()
