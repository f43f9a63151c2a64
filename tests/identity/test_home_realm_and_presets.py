"""Home-realm discovery on the tenant sign-in page, SSO enforcement, and what each provider preset means."""

import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from audit.services import Actor
from identity.models import IdentityProvider, Preset
from identity.services import identity_provider_create, identity_provider_update
from identity.sso import oidc
from identity.sso.presets import preset_settings
from kit.errors import ApplicationError
from tests.factories import PASSWORD, add_member

pytestmark = pytest.mark.django_db
TEST = Actor("test", "", "pytest")


def make_provider(tenant, **fields):
    fields.setdefault("address", "https://idp.corp.example")
    fields.setdefault("domains", ["corp.example"])
    return identity_provider_create(tenant=tenant, name="Corp", slug="corp", client_id="platform",
                                    client_secret="secret", actor=TEST, **fields)


# --- Home-realm discovery ----------------------------------------------------------------------------------

def test_an_address_of_the_providers_domain_goes_to_the_provider(two_tenants, client):
    a, _ = two_tenants
    make_provider(a.tenant)
    response = client.post("/t/alpha/login", {"username": "ada@CORP.example", "password": "",
                                              "next": "/t/alpha/authorize?client_id=x"})
    assert response.status_code == 302
    assert response["Location"] == ("/t/alpha/sso/corp/start?next=%2Ft%2Falpha%2Fauthorize%3Fclient_id%3Dx"
                                    "&login_hint=ada%40CORP.example")


def test_other_addresses_still_sign_in_with_a_password(two_tenants, client):
    a, _ = two_tenants
    make_provider(a.tenant)
    response = client.post("/t/alpha/login", {"username": a.member.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/t/alpha/"
    missing = client.post("/t/alpha/login", {"username": "x@alpha.example", "password": ""})
    assert missing.status_code == 200 and "Enter your password" in missing.content.decode()


def test_the_sign_in_page_lists_the_tenants_enabled_providers_only(two_tenants, client):
    a, b = two_tenants
    idp = make_provider(a.tenant)
    identity_provider_create(tenant=b.tenant, name="Bravo IdP", slug="bravo-idp", address="https://idp.bravo.example",
                             client_id="c", client_secret="s", actor=TEST)
    page = client.get("/t/alpha/login?next=/t/alpha/authorize%3Fa%3D1").content.decode()
    assert 'data-idp="corp"' in page and "/t/alpha/sso/corp/start?next=%2Ft%2Falpha%2Fauthorize%3Fa%3D1" in page
    assert "Bravo IdP" not in page
    identity_provider_update(identity_provider=idp, enabled=False, actor=TEST)
    assert 'data-idp="corp"' not in client.get("/t/alpha/login").content.decode()


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/t/alpha/", "/t/bravo/authorize",
                                      "/console/alpha/"])
def test_next_never_leaves_the_tenant(next_url, two_tenants, client):
    a, _ = two_tenants
    make_provider(a.tenant)
    response = client.post("/t/alpha/login", {"username": "ada@corp.example", "next": next_url})
    assert response["Location"] == "/t/alpha/sso/corp/start?login_hint=ada%40corp.example"


def test_required_sso_refuses_the_domains_passwords_at_the_tenant(two_tenants, client):
    a, _ = two_tenants
    make_provider(a.tenant, domains=["alpha.example"], sso_required=True)
    # Even with the right password, the address goes to the provider, never to the password check.
    response = client.post("/t/alpha/login", {"username": a.member.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith("/t/alpha/sso/corp/start")
    assert "_auth_user_id" not in client.session

    from django.test import RequestFactory

    from identity.forms import TenantSignInForm

    request = RequestFactory().post("/t/alpha/login")
    request.tenant = a.tenant
    form = TenantSignInForm(request, data={"username": a.member.email, "password": PASSWORD})
    assert not form.is_valid() and "through Corp" in form.non_field_errors()[0]


def test_required_sso_refuses_console_passwords_only_where_every_tenant_requires_it(two_tenants, client):
    a, b = two_tenants
    make_provider(a.tenant, domains=["alpha.example"], sso_required=True)
    refused = client.post("/login", {"username": a.admin.email, "password": PASSWORD})
    assert refused.status_code == 200 and "/t/alpha/login" in refused.content.decode()
    assert "_auth_user_id" not in client.session

    # Someone who also administers bravo (no SSO there) keeps the password: alpha cannot lock them out.
    from tenants.models import Role

    add_member(b.tenant, a.admin, Role.AUDITOR)
    assert client.post("/login", {"username": a.admin.email, "password": PASSWORD}).status_code == 302


def test_required_sso_needs_domains(two_tenants):
    a, _ = two_tenants
    with pytest.raises(ApplicationError, match="domains"):
        make_provider(a.tenant, domains=[], sso_required=True)


# --- Presets ---------------------------------------------------------------------------------------------

def test_presets_fill_discovery_issuer_and_claims():
    okta = preset_settings(Preset.OKTA, "acme.okta.com")
    assert okta["discovery_url"] == "https://acme.okta.com/.well-known/openid-configuration"
    assert "groups" in okta["scopes"].split()
    entra = preset_settings(Preset.ENTRA, "72f988bf-86f1-41af-91ab-2d7cd011db47")
    assert entra["issuer"] == "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
    assert entra["claim_email_verified"] == "xms_edov"
    assert preset_settings(Preset.ENTRA, "organizations")["issuer"].endswith("/{tenantid}/v2.0")
    google = preset_settings(Preset.GOOGLE, "acme.com")
    assert google["domains"] == ["acme.com"] and google["claim_groups"] == ""
    assert preset_settings(Preset.AUTH0, "acme.eu.auth0.com")["issuer"] == "https://acme.eu.auth0.com/"
    assert preset_settings(Preset.APPLE, "")["response_mode"] == "form_post"
    keycloak = preset_settings(Preset.KEYCLOAK, "https://sso.example.com/realms/acme/")
    assert keycloak["discovery_url"] == "https://sso.example.com/realms/acme/.well-known/openid-configuration"


def test_a_multi_tenant_entra_provider_must_name_its_directories(two_tenants):
    a, _ = two_tenants
    with pytest.raises(ApplicationError, match="directory ids"):
        make_provider(a.tenant, preset=Preset.ENTRA, address="organizations", domains=[])


def test_provider_urls_must_be_https_outside_loopback(two_tenants, settings):
    a, _ = two_tenants
    with pytest.raises(ApplicationError, match="https"):
        make_provider(a.tenant, address="http://idp.corp.example")
    settings.SSO_ALLOW_HTTP_LOOPBACK = False
    with pytest.raises(ApplicationError, match="https"):
        make_provider(a.tenant, address="http://127.0.0.1:9")


class SignedTokens:
    """ID tokens signed with a key whose JWKS sits in the platform's cache, as if fetched from the provider."""

    def __init__(self, jwks_uri):
        from django.core.cache import cache

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = {**RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True), "kid": "k1", "alg": "RS256"}
        cache.set(oidc._cache_key("jwks", jwks_uri), {"keys": [jwk], "fetched_at": time.time()}, 60)

    def sign(self, **claims):
        now = int(time.time())
        body = {"sub": "s-1", "aud": "platform", "iat": now, "exp": now + 300, "nonce": "n", **claims}
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": "k1"})


def test_entra_multi_tenant_issuer_is_checked_against_the_tokens_own_allowed_directory():
    allowed, stranger = str(uuid.uuid4()), str(uuid.uuid4())
    idp = IdentityProvider(preset=Preset.ENTRA, client_id="platform", allowed_tenant_ids=[allowed],
                           issuer="https://login.microsoftonline.com/{tenantid}/v2.0")
    metadata = {"issuer": idp.issuer, "jwks_uri": f"https://login.example/{uuid.uuid4()}/keys"}
    tokens = SignedTokens(metadata["jwks_uri"])
    issuer_of = "https://login.microsoftonline.com/{}/v2.0".format

    claims = oidc.validate_id_token(idp, metadata, tokens.sign(iss=issuer_of(allowed), tid=allowed), nonce="n")
    assert claims["tid"] == allowed
    with pytest.raises(oidc.SSOError) as refused:  # a directory nobody allowed
        oidc.validate_id_token(idp, metadata, tokens.sign(iss=issuer_of(stranger), tid=stranger), nonce="n")
    assert refused.value.reason == "id_token.directory_not_allowed"
    with pytest.raises(oidc.SSOError) as refused:  # an allowed tid does not excuse another directory's issuer
        oidc.validate_id_token(idp, metadata, tokens.sign(iss=issuer_of(stranger), tid=allowed), nonce="n")
    assert refused.value.reason == "id_token.wrong_issuer"


def test_google_issuer_alias_and_workspace_domain_claim():
    idp = IdentityProvider(preset=Preset.GOOGLE, client_id="platform", issuer="https://accounts.google.com",
                           domains=["acme.com"], claim_groups="")
    metadata = {"issuer": idp.issuer, "jwks_uri": f"https://google.example/{uuid.uuid4()}/certs"}
    tokens = SignedTokens(metadata["jwks_uri"])
    claims = oidc.validate_id_token(idp, metadata, tokens.sign(iss="accounts.google.com", hd="acme.com"), nonce="n")
    oidc.check_domain_claim(idp, claims)
    with pytest.raises(oidc.SSOError) as refused:  # a consumer account with an acme.com address has no hd
        oidc.check_domain_claim(idp, {**claims, "hd": None, "email": "x@acme.com"})
    assert refused.value.reason == "domain_not_allowed"


def test_apple_sends_email_verified_as_a_string():
    idp = IdentityProvider(preset=Preset.APPLE, claim_name="", claim_groups="")
    relay = {"sub": "001", "email": "abc@privaterelay.appleid.com", "email_verified": "true"}
    assert oidc.map_claims(idp, relay).email_verified is True
    assert oidc.map_claims(idp, {**relay, "email_verified": "false"}).email_verified is False


def test_form_post_responses_are_bounced_to_a_same_site_get(two_tenants, client):
    a, _ = two_tenants
    make_provider(a.tenant, preset=Preset.APPLE, address="", domains=[])
    response = client.post("/t/alpha/sso/corp/callback", {"code": "c", "state": "s", "user": '{"name":1}'})
    assert response.status_code == 303 and response["Location"] == "/t/alpha/sso/corp/callback?code=c&state=s"


@pytest.mark.parametrize("address", ["https://10.1.2.3", "https://169.254.169.254", "https://127.0.0.1:9"])
def test_a_provider_inside_the_platforms_network_is_not_called(address, two_tenants, client, settings):
    a, _ = two_tenants
    settings.SSO_ALLOW_HTTP_LOOPBACK = False  # loopback providers are a testing convenience only
    make_provider(a.tenant, address=address)
    response = client.get("/t/alpha/sso/corp/start")
    assert response.status_code == 502 and "<code>insecure_url</code>" in response.content.decode()
    assert "inside the platform" in response.content.decode()
