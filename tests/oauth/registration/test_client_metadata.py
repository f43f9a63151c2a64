"""Client metadata read liberally and granted strictly (issue 14, RFC 7591 §3.2.1), SEP-3149 authentication
methods of metadata documents, redirect URIs as real clients register them, CIMD clients named by their
URL, and machine tokens kept from anonymous self-registered clients (issue 16 item 3).

Every test goes through the real endpoints (/register, /authorize, /token, /introspect, the REST API and
the console) with PostgreSQL and Redis."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client as DjangoClient

from kit.tenancy import tenant_context
from oauth.models import Application
from oauth.registration.models import ClientRegistration
from tests.oauth.flows import authorize, basic, exchange

from .conftest import ACTOR, events_of, metadata, set_policy
from .documents import cimd_document

pytestmark = pytest.mark.django_db

# The document VS Code stable publishes at https://vscode.dev/oauth/client-metadata.json (issue 14), field
# for field; tests serve it under their own URL because client_id must equal the URL it is fetched from.
VSCODE_DOCUMENT = {
    "client_name": "Visual Studio Code",
    "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "none",
    "application_type": "native",
    "redirect_uris": ["http://127.0.0.1:33418/", "https://vscode.dev/redirect"],
}
CHATGPT_REDIRECT = "https://chatgpt.com/connector_platform_oauth_redirect"
CURSOR_REDIRECTS = ["cursor://anysphere.cursor-mcp/oauth/callback",
                    "https://www.cursor.com/agents/mcp/oauth/callback", "http://localhost:8787/callback"]


def _api(user, slug):
    http = DjangoClient()
    http.force_login(user, backend="identity.backends.EmailBackend")
    return lambda path: http.get(f"/api/v1/{path}", HTTP_X_TENANT=slug)


def _claims(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


def _keypair():
    private = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    return private, {"keys": [{**public, "kid": "k1", "use": "sig", "alg": "ES256"}]}


def _assertion(private, client_id: str, audience: str) -> str:
    now = int(time.time())
    return jwt.encode({"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + 60,
                       "jti": uuid.uuid4().hex}, private, algorithm="ES256", headers={"kid": "k1"})


@pytest.fixture
def documents(settings, http_documents):
    """Loopback documents (development mode); the production guard is tested in test_cimd.py."""
    settings.REGISTRATION_CIMD_ALLOW_LOOPBACK = True
    return http_documents


def _cimd_client(tenant, url):
    from oauth.registration import cimd

    with tenant_context(tenant):
        return cimd.cimd_client(tenant, url)


# --- read liberally, grant strictly -------------------------------------------------------------------

def test_dcr_grants_what_it_supports_and_says_what_it_left_out(world, resource, registrar):
    set_policy(world.tenant, dcr_mode="open")
    response = registrar.register(world.tenant, metadata(
        grant_types=["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code",
                     "implicit", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
        response_types=["code", "token", "code id_token"], token_endpoint_auth_method="tls_client_auth",
        application_type="web", redirect_uris=["https://app.example.com/cb"]))
    assert response.status_code == 201, response.content
    body = response.json()
    # RFC 7591 §3.2.1: the response carries what was granted, the server's replacements included.
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    assert body["response_types"] == ["code"]
    assert body["token_endpoint_auth_method"] == "client_secret_basic" and body["client_secret"]
    assert body["not_granted"] == {
        "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "implicit",
                        "urn:ietf:params:oauth:grant-type:jwt-bearer"],
        "response_types": ["token", "code id_token"], "token_endpoint_auth_methods": ["tls_client_auth"]}
    client = Application.objects.unscoped().get(client_id=body["client_id"])
    assert client.grant_type_list == ["authorization_code", "refresh_token"]
    (received,) = events_of(world.tenant, "registration.received")
    assert received.data["not_granted"] == body["not_granted"]

    api = _api(world.admin, world.slug)
    shown = api(f"clients/{client.client_id}").json()
    assert shown["grant_types"] == ["authorization_code", "refresh_token"]
    assert shown["token_endpoint_auth_methods"] == ["client_secret_basic"]
    (listed,) = [r for r in api("registrations").json()["results"] if r["client_id"] == client.client_id]
    assert listed["metadata"]["not_granted"]["grant_types"][0] == "urn:ietf:params:oauth:grant-type:device_code"

    http = DjangoClient()
    http.force_login(world.admin, backend="identity.backends.EmailBackend")
    page = http.get(f"/console/{world.slug}/approvals/{client.registration.pk}").content.decode()
    assert "Asked for, not granted" in page and "urn:ietf:params:oauth:grant-type:device_code" in page
    client_page = http.get(f"/console/{world.slug}/clients/{client.pk}/").content.decode()
    assert '<td id="grant-types"><code>authorization_code</code> <code>refresh_token</code>' in client_page


@pytest.mark.parametrize("body, error, words", [
    ({"jwks": {"keys": [{"kty": "EC"}]}, "jwks_uri": "https://app.example.com/jwks.json",
      "token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata", "not both"),
    ({"scope": "notes:read admin:members"}, "invalid_client_metadata", "admin"),
    ({"grant_types": ["urn:ietf:params:oauth:grant-type:device_code"]}, "invalid_client_metadata",
     "can be granted"),
    ({"redirect_uris": ["http://app.example.com/cb"]}, "invalid_redirect_uri", "https"),
])
def test_only_what_is_dangerous_or_leaves_nothing_is_refused(world, registrar, body, error, words):
    response = registrar.register(world.tenant, metadata(**body))
    assert response.status_code == 400 and response.json()["error"] == error, response.content
    assert words in response.json()["error_description"]


def test_vscode_stable_metadata_document_is_accepted_without_device_code(world, resource, documents):
    set_policy(world.tenant, cimd_mode="open")
    url = documents.url + "/oauth/client-metadata.json"
    documents.put("/oauth/client-metadata.json", {"client_id": url, **VSCODE_DOCUMENT})
    client = _cimd_client(world.tenant, url)
    assert client is not None and client.status == "approved"
    assert client.grant_type_list == ["authorization_code", "refresh_token"]
    assert client.redirect_uris.split() == VSCODE_DOCUMENT["redirect_uris"]
    registration = ClientRegistration.objects.unscoped().get(application=client)
    assert registration.metadata["not_granted"] == {"grant_types": ["urn:ietf:params:oauth:grant-type:device_code"]}
    assert not events_of(world.tenant, "registration.cimd_failed")


# --- SEP-3149: authentication methods of a metadata document ---------------------------------------

@pytest.mark.parametrize("fields, keys, primary, others, left_out", [
    ({}, False, "none", [], []),  # no method listed means "none"
    ({"token_endpoint_auth_methods": ["private_key_jwt", "none"]}, True, "none", ["private_key_jwt"], []),
    ({"token_endpoint_auth_methods": ["private_key_jwt"]}, True, "private_key_jwt", [], []),
    ({"token_endpoint_auth_method": "private_key_jwt"}, True, "private_key_jwt", [], []),
    ({"token_endpoint_auth_methods": ["client_secret_basic", "none"]}, False, "none", [], ["client_secret_basic"]),
    ({"token_endpoint_auth_methods": ["private_key_jwt", "none"]}, False, "none", [], ["private_key_jwt"]),
])
def test_document_auth_methods_are_intersected_with_what_a_document_can_use(world, documents, fields, keys,
                                                                            primary, others, left_out):
    set_policy(world.tenant, cimd_mode="open")
    url = documents.url + "/client.json"
    document = {**cimd_document(url, token_endpoint_auth_method=None), **fields}
    if keys:
        document["jwks"] = _keypair()[1]
    documents.put("/client.json", document)
    client = _cimd_client(world.tenant, url)
    assert client is not None, [e.data for e in events_of(world.tenant, "registration.cimd_failed")]
    assert client.token_endpoint_auth_method == primary
    assert client.token_endpoint_auth_methods.split() == others
    assert client.client_type == ("public" if primary == "none" else "confidential")
    metadata = ClientRegistration.objects.unscoped().get(application=client).metadata
    assert metadata.get("not_granted", {}).get("token_endpoint_auth_methods", []) == left_out


@pytest.mark.parametrize("fields", [
    {"token_endpoint_auth_methods": ["client_secret_basic"]},
    {"token_endpoint_auth_method": "client_secret_post"},
    {"token_endpoint_auth_methods": ["private_key_jwt"]},  # without keys
])
def test_document_with_no_usable_auth_method_is_refused(world, documents, fields):
    set_policy(world.tenant, cimd_mode="open")
    url = documents.url + "/client.json"
    documents.put("/client.json", {**cimd_document(url, token_endpoint_auth_method=None), **fields})
    assert _cimd_client(world.tenant, url) is None
    (event,) = events_of(world.tenant, "registration.cimd_failed")
    assert "none of the token endpoint authentication methods" in event.data["reason"]


def test_chatgpt_shaped_document_works_with_private_key_jwt_and_with_none(world, resource, documents, client,
                                                                        signed_in):
    """ChatGPT publishes private_key_jwt and none (SEP-3149); both authenticate at the token endpoint, and
    the client is its URL in the token, introspection, audit, the API and the console."""
    set_policy(world.tenant, cimd_mode="open")
    private, jwks = _keypair()
    url = documents.url + "/chatgpt/client.json"
    documents.put("/chatgpt/client.json", {
        "client_id": url, "client_name": "ChatGPT", "redirect_uris": [CHATGPT_REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "token_endpoint_auth_methods": ["private_key_jwt", "none"], "jwks": jwks,
        "application_type": "web"})
    app = _cimd_client(world.tenant, url)
    assert app is not None and app.public_client_id == url
    http = signed_in(world.member)
    named = type("CIMD", (), {"client_id": url})  # the authorization request names the client by its URL

    signed = authorize(http, world.tenant, named, resource=resource.uri, redirect_uri=CHATGPT_REDIRECT)
    answer = client.post(f"/t/{world.slug}/token", {
        "grant_type": "authorization_code", "code": signed.code, "redirect_uri": CHATGPT_REDIRECT,
        "code_verifier": signed.verifier, "resource": resource.uri, "client_id": url,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": _assertion(private, url, f"{world.tenant.issuer}/token")})
    assert answer.status_code == 200, answer.content
    assert _claims(answer.json()["access_token"])["client_id"] == url

    public = authorize(http, world.tenant, named, resource=resource.uri, redirect_uri=CHATGPT_REDIRECT)
    answer = exchange(client, world.tenant, named, public, resource=resource.uri, redirect_uri=CHATGPT_REDIRECT)
    assert answer.status_code == 200, answer.content
    tokens = answer.json()
    assert _claims(tokens["access_token"])["client_id"] == url

    # A wrong key is not "none" in disguise: an assertion that fails verification fails the request.
    wrong, _ = _keypair()
    third = authorize(http, world.tenant, named, resource=resource.uri, redirect_uri=CHATGPT_REDIRECT)
    refused = client.post(f"/t/{world.slug}/token", {
        "grant_type": "authorization_code", "code": third.code, "redirect_uri": CHATGPT_REDIRECT,
        "code_verifier": third.verifier, "client_id": url,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": _assertion(wrong, url, f"{world.tenant.issuer}/token")})
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"

    # Build 5: introspection, audit, API and console name the client by its URL.
    from tests.factories import make_agent

    introspector, secret = make_agent(world.tenant, name="Resource server")
    described = client.post(f"/t/{world.slug}/introspect", {"token": tokens["access_token"]},
                            HTTP_AUTHORIZATION=basic(introspector.client_id, secret)).json()
    assert described["active"] and described["client_id"] == url
    described = client.post(f"/t/{world.slug}/introspect", {"token": tokens["refresh_token"]},
                            HTTP_AUTHORIZATION=basic(introspector.client_id, secret)).json()
    assert described["active"] and described["client_id"] == url
    for action in ("registration.received", "client.created"):
        assert {e.client_id for e in events_of(world.tenant, action) if e.target_id == str(app.pk)} == {url}, action
    assert {e.client_id for e in events_of(world.tenant, "consent.granted")} == {url}
    api = _api(world.admin, world.slug)
    assert api(f"clients/{app.client_id}").json()["client_id"] == url
    assert api(f"clients/{app.client_id}").json()["token_endpoint_auth_methods"] == ["none", "private_key_jwt"]
    listed = api(f"tokens?client_id={url}").json()["results"]
    assert listed and {t["client_id"] for t in listed} == {url}
    console = DjangoClient()
    console.force_login(world.admin, backend="identity.backends.EmailBackend")
    page = console.get(f"/console/{world.slug}/clients/{app.pk}/").content.decode()
    assert f'<code id="public-client-id">{url}</code>' in page
    assert f"<td><code>{url}</code></td>" in console.get(f"/console/{world.slug}/clients/").content.decode()
    tokens_page = console.get(f"/console/{world.slug}/tokens/", {"client": url})
    assert tokens_page.status_code == 200 and f'<option value="{url}" selected>' in tokens_page.content.decode()


# --- redirect URIs as real clients register them ----------------------------------------------------

@pytest.mark.parametrize("name, redirect_uris", [
    ("loopback, any port", ["http://127.0.0.1:61234/callback", "http://[::1]:5000/cb", "http://localhost/cb"]),
    ("VS Code", ["http://127.0.0.1:33418/", "https://vscode.dev/redirect", "https://insiders.vscode.dev/redirect"]),
    ("Claude", ["https://claude.ai/api/mcp/auth_callback", "https://claude.com/api/mcp/auth_callback"]),
    ("ChatGPT", [CHATGPT_REDIRECT]),
    ("Reverse-domain app", ["com.example.notes:/oauth2redirect", "app.example.desktop://callback"]),
    ("Cursor", CURSOR_REDIRECTS),
])
def test_real_clients_redirect_uris_register(world, registrar, name, redirect_uris):
    set_policy(world.tenant, dcr_mode="open")
    # Cursor sends no application_type: its private-use scheme makes it a native client.
    body = {"client_name": name, "redirect_uris": redirect_uris, "grant_types": ["authorization_code",
            "refresh_token"], "response_types": ["code"], "token_endpoint_auth_method": "none"}
    response = registrar.register(world.tenant, body)
    assert response.status_code == 201, response.content
    assert response.json()["redirect_uris"] == redirect_uris
    private_use = any(not u.startswith("http") for u in redirect_uris)
    assert response.json()["application_type"] == ("native" if private_use else "web")


@pytest.mark.parametrize("uri", [
    "javascript:alert(document.domain)", "JavaScript://%0aalert(1)", "data:text/html,<script>alert(1)</script>",
    "file:///etc/passwd", "vbscript:msgbox(1)", "blob:https://evil.example/uuid", "about:blank",
    "view-source:https://evil.example", "ms-msdt:/id PCWDiagnostic", "search-ms:query=x", "mailto:a@evil.example",
    "ftp://evil.example/cb", "wss://evil.example/cb", "http://evil.example/cb", "https:///nohost",
])
def test_dangerous_redirect_uris_are_refused(world, registrar, uri):
    set_policy(world.tenant, dcr_mode="open")
    response = registrar.register(world.tenant, metadata(redirect_uris=["http://127.0.0.1:8000/cb", uri]))
    assert response.status_code == 400 and response.json()["error"] == "invalid_redirect_uri", response.content
    assert not ClientRegistration.objects.unscoped().filter(tenant=world.tenant).exists()


def test_cursor_registration_completes_the_flow_at_its_private_use_redirect(world, resource, registrar, client,
                                                                           signed_in):
    """Cursor's DCR body (three redirect URIs at once, no application_type), then the code flow returning
    to its private-use scheme."""
    set_policy(world.tenant, dcr_mode="open")
    body = registrar.register(world.tenant, {
        "client_name": "Cursor", "redirect_uris": CURSOR_REDIRECTS, "grant_types": ["authorization_code",
        "refresh_token"], "response_types": ["code"], "token_endpoint_auth_method": "none"}).json()
    app = Application.objects.unscoped().get(client_id=body["client_id"])
    signed = authorize(signed_in(world.member), world.tenant, app, resource=resource.uri,
                       redirect_uri=CURSOR_REDIRECTS[0])
    assert signed.location.startswith(CURSOR_REDIRECTS[0] + "?")
    answer = exchange(client, world.tenant, app, signed, resource=resource.uri, redirect_uri=CURSOR_REDIRECTS[0])
    assert answer.status_code == 200, answer.content


# --- issue 16 item 3: no machine tokens for anonymous self-registered clients -------------------------

MACHINE_BODY = {"client_name": "Sneaky", "redirect_uris": ["http://127.0.0.1:9000/cb"],
                "grant_types": ["authorization_code", "client_credentials"], "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_basic", "application_type": "web"}


@pytest.mark.parametrize("how", ["dcr open", "loopback rule"])
def test_anonymous_registration_gets_no_client_credentials(world, resource, registrar, client, how):
    from oauth.registration.services import rule_create

    if how == "dcr open":
        set_policy(world.tenant, dcr_mode="open")
    else:  # the README's example rule: approves where codes go, says nothing about machine tokens
        rule_create(tenant=world.tenant, actor=ACTOR, kind="redirect_host", pattern="loopback")
    response = registrar.register(world.tenant, MACHINE_BODY)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "approved" and body["grant_types"] == ["authorization_code"]
    assert body["not_granted"] == {"grant_types": ["client_credentials"]}
    answer = client.post(f"/t/{world.slug}/token", {"grant_type": "client_credentials", "resource": resource.uri,
                                                    "scope": "tools:write"},
                         HTTP_AUTHORIZATION=basic(body["client_id"], body["client_secret"]))
    assert answer.status_code in (400, 401) and "access_token" not in answer.json()
    assert answer.json()["error"] == "unauthorized_client"
    # Nor can it add the grant later through RFC 7592.
    update = registrar.configuration(world.tenant, body["client_id"], body["registration_access_token"], "put",
                                     {**MACHINE_BODY, "client_id": body["client_id"]})
    assert update.status_code == 200 and update.json()["grant_types"] == ["authorization_code"]


def test_client_credentials_only_alone_is_refused_without_an_explicit_rule(world, registrar):
    set_policy(world.tenant, dcr_mode="open")
    response = registrar.register(world.tenant, {**MACHINE_BODY, "grant_types": ["client_credentials"],
                                                 "response_types": [], "redirect_uris": None})
    assert response.status_code == 400 and "trusted publisher" in response.json()["error_description"]


def _publisher_statement(world, grant_types=None):
    from oauth.registration.services import publisher_create

    private, jwks = _keypair()
    publisher_create(tenant=world.tenant, actor=ACTOR, name="Acme Tools", issuer="https://tools.acme.example",
                     jwks=jwks)
    claims = {"iss": "https://tools.acme.example", "software_id": "acme-sync"}
    if grant_types is not None:
        claims["grant_types"] = grant_types
    return jwt.encode(claims, private, algorithm="ES256", headers={"kid": "k1"})


def test_trusted_publisher_statement_listing_client_credentials_grants_it_with_default_scopes_only(
        world, resource, registrar, client):
    from oauth.registration.services import rule_create

    rule_create(tenant=world.tenant, actor=ACTOR, kind="publisher", pattern="https://tools.acme.example")
    statement = _publisher_statement(world, ["client_credentials"])
    body = registrar.register(world.tenant, {"token_endpoint_auth_method": "client_secret_basic",
                                             "grant_types": ["client_credentials"], "software_statement": statement,
                                             "client_name": "Acme sync"}).json()
    assert body["status"] == "approved" and body["grant_types"] == ["client_credentials"], body
    auth = basic(body["client_id"], body["client_secret"])
    wide = client.post(f"/t/{world.slug}/token", {"grant_type": "client_credentials", "resource": resource.uri,
                                                  "scope": "tools:read tools:write"}, HTTP_AUTHORIZATION=auth)
    assert wide.status_code == 400 and wide.json()["error"] == "invalid_scope"
    assert "consent" in wide.json()["error_description"]
    default = client.post(f"/t/{world.slug}/token", {"grant_type": "client_credentials", "resource": resource.uri},
                          HTTP_AUTHORIZATION=auth)
    assert default.status_code == 200, default.content
    assert _claims(default.json()["access_token"])["scope"] == "tools:read"


def test_statement_without_client_credentials_does_not_vouch_for_the_body_asking_for_it(world, registrar):
    from oauth.registration.services import rule_create

    rule_create(tenant=world.tenant, actor=ACTOR, kind="publisher", pattern="*")
    statement = _publisher_statement(world)  # vouches for the software, lists no grant types
    body = registrar.register(world.tenant, {**MACHINE_BODY, "software_statement": statement}).json()
    assert body["grant_types"] == ["authorization_code"] and "client_credentials" in body["not_granted"]["grant_types"]


def test_approval_rules_look_at_grant_types(world, registrar):
    """A client an administrator's initial access token lets ask for client_credentials is not approved
    by a redirect-host rule: that rule vouches for where codes go, not for tokens without a person."""
    from oauth.registration.services import initial_access_token_create, rule_create

    rule_create(tenant=world.tenant, actor=ACTOR, kind="redirect_host", pattern="loopback")
    _, iat = initial_access_token_create(tenant=world.tenant, actor=ACTOR, label="sync job")
    body = registrar.register(world.tenant, MACHINE_BODY, token=iat).json()
    assert body["grant_types"] == ["authorization_code", "client_credentials"]
    assert body["status"] == "pending"
    plain = registrar.register(world.tenant, {**MACHINE_BODY, "grant_types": ["authorization_code"],
                                              "client_name": "Plain"}).json()
    assert plain["status"] == "approved"


# --- settings read from the environment -------------------------------------------------------------

def test_cimd_settings_are_read_from_the_environment(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    ca = tmp_path / "ca.pem"
    ca.write_text("")
    code = ("import django; django.setup(); from django.conf import settings; "
            "print(settings.REGISTRATION_CIMD_ALLOW_LOOPBACK, settings.REGISTRATION_CIMD_CA_FILE)")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mcp_platform.settings", "REGISTRATION_CIMD_ALLOW_LOOPBACK": "true",
           "REGISTRATION_CIMD_CA_FILE": str(ca)}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["True", str(ca)], out.stderr[-2000:]
    env = {k: v for k, v in env.items() if not k.startswith("REGISTRATION_CIMD_")}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False"], out.stderr[-2000:]


def test_cimd_ca_file_is_trusted_in_addition_to_the_system_store(world, test_ca, settings):
    """REGISTRATION_CIMD_CA_FILE adds the test CA: the https document is fetched with the certificate
    verified against it (and without it, test_cimd.py shows the fetch fails)."""
    from .documents import DocumentHost

    settings.REGISTRATION_CIMD_ALLOW_LOOPBACK = True
    settings.REGISTRATION_CIMD_CA_FILE = str(test_ca[0])
    set_policy(world.tenant, cimd_mode="open")
    host = DocumentHost(tls=(test_ca[1], test_ca[2]))
    try:
        url = host.url + "/client.json"
        host.put("/client.json", cimd_document(url))
        assert _cimd_client(world.tenant, url) is not None
    finally:
        host.close()

