"""Identity providers in the REST API and the console, and the walls between tenants."""

from urllib.parse import urlsplit

import httpx
import pytest
from django.conf import settings

from audit.models import AuditEvent
from identity.models import FederatedIdentity, IdentityProvider
from tenants.models import Membership
from tests.identity.conftest import _follow_idp, new_account, sign_in_via_idp

pytestmark = pytest.mark.django_db
API = "/api/v1/sso/identity-providers"


def api(client, method, path, tenant, data=None):
    return getattr(client, method)(path, data, content_type="application/json", HTTP_X_TENANT=tenant)


def test_admin_sets_up_tests_and_disables_a_provider_through_the_api(two_tenants, signed_in, oidc_provider):
    a, _ = two_tenants
    client = signed_in(a.admin)
    created = api(client, "post", API, "alpha", {
        "name": "Corp", "slug": "corp", "preset": "keycloak", "address": oidc_provider.issuer,
        "client_id": "platform", "client_secret": "idp-issued-secret", "domains": ["Corp.example"],
        "group_roles": {"mcp-admins": "admin"}})
    assert created.status_code == 201, created.json()
    body = created.json()
    assert "client_secret" not in body and body["has_client_secret"] is True
    assert body["discovery_url"] == f"{oidc_provider.issuer}/.well-known/openid-configuration"
    assert body["domains"] == ["corp.example"]
    assert body["urls"]["redirect_uri"] == f"{settings.PUBLIC_URL}/t/alpha/sso/corp/callback"

    changed = api(client, "patch", f"{API}/{body['id']}", "alpha", {"sso_required": True, "scopes": "email groups"})
    assert changed.status_code == 200 and changed.json()["sso_required"] is True
    assert changed.json()["scopes"] == "openid email groups"

    tested = api(client, "post", f"{API}/{body['id']}/test-connection", "alpha").json()["last_test"]
    assert tested["ok"] is True and tested["endpoints"]["token_endpoint"] == f"{oidc_provider.issuer}/token"
    assert tested["backchannel_logout_supported"] is True and tested["signing_keys"] == ["idp-key-1"]

    assert api(client, "post", f"{API}/{body['id']}/disable", "alpha").json()["enabled"] is False
    events = list(AuditEvent.objects.filter(tenant=a.tenant, action__startswith="sso.provider")
                  .order_by("seq").values_list("action", "data"))
    assert [e[0] for e in events] == ["sso.provider_created", "sso.provider_updated", "sso.provider_tested",
                                      "sso.provider_updated", "sso.provider_disabled"]
    assert events[1][1]["changed"] == ["scopes", "sso_required"]
    assert "idp-issued-secret" not in str(events)


def test_provider_errors_use_the_api_error_format(two_tenants, signed_in):
    a, _ = two_tenants
    response = api(signed_in(a.admin), "post", API, "alpha", {
        "name": "Corp", "slug": "corp", "address": "https://idp.corp.example", "client_id": "c",
        "client_secret": "s", "group_roles": {"everyone": "owner"}})
    assert response.status_code == 400
    error = response.json()["error"]
    assert "group_roles" in error["fields"] and "owners are named by a person" in error["message"]


def test_an_auditor_reads_providers_but_cannot_change_them(two_tenants, signed_in, make_idp):
    a, _ = two_tenants
    idp = make_idp(a.tenant)
    client = signed_in(a.auditor)
    assert api(client, "get", API, "alpha").json()["results"][0]["slug"] == "corp"
    assert api(client, "patch", f"{API}/{idp.pk}", "alpha", {"enabled": False}).status_code == 403
    assert api(client, "post", f"{API}/{idp.pk}/disable", "alpha").status_code == 403


def test_federated_identities_are_listed_per_user_and_unlinked(two_tenants, signed_in, make_idp, oidc_provider,
                                                               client_factory):
    a, _ = two_tenants
    make_idp(a.tenant)
    login = new_account(oidc_provider, email="ada@corp.example")
    sign_in_via_idp(client_factory(), oidc_provider, "/t/alpha/sso/corp/start", login)
    client = signed_in(a.admin)
    listed = api(client, "get", "/api/v1/sso/federated-identities?user=ADA@corp.example&identity_provider=corp",
                 "alpha").json()["results"]
    assert [(i["user"], i["subject"], i["identity_provider"]) for i in listed] == [("ada@corp.example", login, "corp")]
    assert api(client, "get", "/api/v1/sso/federated-identities?user=nobody@corp.example", "alpha").json()[
        "results"] == []
    assert api(client, "delete", f"/api/v1/sso/federated-identities/{listed[0]['id']}", "alpha").status_code == 204
    assert not FederatedIdentity.objects.exists()
    assert AuditEvent.objects.filter(tenant=a.tenant, action="sso.identity_unlinked").exists()


def test_another_tenants_admin_cannot_read_or_change_a_provider(two_tenants, signed_in, make_idp, oidc_provider,
                                                                client_factory):
    a, b = two_tenants
    idp = make_idp(a.tenant)
    sign_in_via_idp(client_factory(), oidc_provider, "/t/alpha/sso/corp/start",
                    new_account(oidc_provider, email="ada@corp.example"))
    identity = FederatedIdentity.objects.get()
    client = signed_in(b.owner)
    assert api(client, "get", API, "bravo").json()["results"] == []
    for method, path, data in [("get", f"{API}/{idp.pk}", None), ("patch", f"{API}/{idp.pk}", {"enabled": False}),
                               ("post", f"{API}/{idp.pk}/test-connection", None),
                               ("post", f"{API}/{idp.pk}/disable", None),
                               ("get", f"/api/v1/sso/federated-identities/{identity.pk}", None),
                               ("delete", f"/api/v1/sso/federated-identities/{identity.pk}", None)]:
        assert api(client, method, path, "bravo", data).status_code == 404, (method, path)
    # Naming alpha in the header does not help: bravo's owner is not alpha's admin.
    assert api(client, "get", f"{API}/{idp.pk}", "alpha").status_code == 404
    for path in ["/console/alpha/sso/", f"/console/alpha/sso/{idp.pk}/", f"/console/bravo/sso/{idp.pk}/"]:
        assert client.get(path).status_code == 404, path
    assert client.post(f"/console/bravo/sso/{idp.pk}/disable").status_code == 404
    assert IdentityProvider.objects.get(pk=idp.pk).enabled and FederatedIdentity.objects.filter(pk=identity.pk).exists()


def test_a_provider_of_tenant_a_signs_nobody_in_at_tenant_b(two_tenants, make_idp, oidc_provider, client):
    a, b = two_tenants
    make_idp(a.tenant)
    make_idp(b.tenant)  # bravo has its own provider with the same slug
    login = new_account(oidc_provider, email="ada@corp.example")
    assert client.get("/t/bravo/sso/other/start").status_code == 404

    # A response to alpha's sign-in, delivered to bravo's callback, belongs to no sign-in there.
    started = client.get("/t/alpha/sso/corp/start")
    callback = urlsplit(_follow_idp(httpx.Client(base_url=oidc_provider.issuer), started["Location"], login,
                                    settings.PUBLIC_URL))
    assert callback.path == "/t/alpha/sso/corp/callback"
    refused = client.get(f"/t/bravo/sso/corp/callback?{callback.query}")
    assert refused.status_code == 400 and "state_invalid" in refused.content.decode()
    assert not FederatedIdentity.objects.exists()

    # Signed in at alpha, the person has no membership at bravo and bravo's sign-in does not let them in.
    response, _ = sign_in_via_idp(client, oidc_provider, "/t/alpha/sso/corp/start", login)
    assert response.status_code == 302
    user = FederatedIdentity.objects.get().user
    assert Membership.objects.for_tenant(b.tenant).filter(user=user).count() == 0
    assert Membership.objects.for_tenant(a.tenant).filter(user=user).count() == 1


def test_console_adds_a_provider_and_a_test_sign_in_previews_the_mapping(two_tenants, signed_in, oidc_provider):
    a, _ = two_tenants
    client = signed_in(a.owner)
    page = client.get("/console/alpha/sso/")
    assert page.status_code == 200 and "Add an identity provider" in page.content.decode()
    created = client.post("/console/alpha/sso/", {
        "preset": "generic", "name": "Corp", "slug": "corp", "address": oidc_provider.issuer, "client_id": "tmp",
        "client_secret": "tmp", "client_auth_method": "client_secret_basic", "scopes": "openid email profile groups",
        "response_mode": "query", "domains": "corp.example", "default_role": "member",
        "group_roles": "mcp-admins = admin\nauditors = auditor", "jit_provisioning": "on", "enabled": "on",
        "claim_subject": "sub", "claim_email": "email", "claim_email_verified": "email_verified", "claim_name": "name",
        "claim_groups": "groups"})
    assert created.status_code == 302, created.content.decode()[:2000]
    idp = IdentityProvider.objects.get(tenant=a.tenant, slug="corp")
    assert idp.group_roles == {"mcp-admins": "admin", "auditors": "auditor"}
    # Register the platform at the provider with the redirect URI the page shows, then save the credentials.
    detail = client.get(created["Location"]).content.decode()
    redirect_uri = f"{settings.PUBLIC_URL}/t/alpha/sso/corp/callback"
    assert redirect_uri in detail
    registered = oidc_provider.register_client(redirect_uri=redirect_uri)
    form = {k: v for k, v in {
        "name": "Corp", "discovery_url": idp.discovery_url, "issuer": idp.issuer, "client_id": registered["client_id"],
        "client_secret": registered["client_secret"], "client_auth_method": "client_secret_basic",
        "scopes": idp.scopes, "response_mode": "query", "domains": "corp.example", "default_role": "member",
        "group_roles": "mcp-admins = admin", "jit_provisioning": "on", "enabled": "on", "claim_subject": "sub",
        "claim_email": "email", "claim_email_verified": "email_verified", "claim_name": "name",
        "claim_groups": "groups"}.items()}
    assert client.post(f"/console/alpha/sso/{idp.pk}/", form).status_code == 302

    login = new_account(oidc_provider, email="preview@corp.example", groups=["mcp-admins"])
    started = client.post(f"/console/alpha/sso/{idp.pk}/test-sign-in")
    callback = urlsplit(_follow_idp(httpx.Client(base_url=oidc_provider.issuer), started["Location"], login,
                                    settings.PUBLIC_URL))
    finished = client.get(f"{callback.path}?{callback.query}")
    assert finished.status_code == 302 and finished["Location"] == f"/console/alpha/sso/{idp.pk}/"
    preview = IdentityProvider.objects.get(pk=idp.pk).last_test
    assert preview["ok"] and preview["mapped"]["email"] == "preview@corp.example" and preview["role"] == "admin"
    page = client.get(finished["Location"]).content.decode()
    assert "preview@corp.example" in page and "Claim mapping preview" in page
    # A test signs nobody in: the owner is still the owner, and no account or identity was made.
    assert client.session["_auth_user_id"] == str(a.owner.pk)
    assert not FederatedIdentity.objects.exists()
    assert not Membership.objects.for_tenant(a.tenant).filter(user__email="preview@corp.example").exists()


def test_an_admin_identity_token_reads_and_changes_providers(two_tenants, make_idp, client):
    """Issue 16 item 20: the SSO API is the ``identity`` area, so ``admin:identity`` tokens work there."""
    from django.test import Client

    from oauth.models import api_audience
    from tests.factories import make_agent
    from tests.oauth.flows import client_credentials

    a, b = two_tenants
    idp = make_idp(a.tenant)
    make_idp(b.tenant, slug="bravo-corp")

    def api_with(scope):
        agent, secret = make_agent(a.tenant, scopes=[scope], name=f"bot {scope}")
        token = client_credentials(client, a.tenant, agent, secret, resource=api_audience()).json()["access_token"]
        return Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    reader = api_with("admin:identity.read")
    listed = reader.get("/api/v1/sso/identity-providers")
    assert listed.status_code == 200, listed.content
    assert [p["slug"] for p in listed.json()["results"]] == ["corp"]  # not bravo's
    assert reader.get("/api/v1/sso/federated-identities").status_code == 200
    assert reader.patch(f"/api/v1/sso/identity-providers/{idp.pk}", {"name": "x"},
                        content_type="application/json").status_code == 403
    writer = api_with("admin:identity")
    changed = writer.patch(f"/api/v1/sso/identity-providers/{idp.pk}", {"name": "Corp SSO"},
                           content_type="application/json")
    assert changed.status_code == 200 and changed.json()["name"] == "Corp SSO"
    assert api_with("admin:clients").get("/api/v1/sso/identity-providers").status_code == 403


def test_every_api_area_is_one_an_admin_scope_names():
    """No endpoint checks a scope no token can hold (the SSO API once checked ``sso``)."""
    from django.urls import get_resolver

    from oauth.models import ADMIN_AREAS
    from tenants.api.base import TenantEndpoint

    def views(patterns):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                yield from views(pattern.url_patterns)
            else:
                cls = getattr(pattern.callback, "cls", None)
                if cls is not None:
                    yield cls

    endpoints = {cls for cls in views(get_resolver().url_patterns) if issubclass(cls, TenantEndpoint)}
    assert len(endpoints) >= 10
    assert {cls.__name__: cls.api_area for cls in endpoints if cls.api_area not in ADMIN_AREAS} == {}
