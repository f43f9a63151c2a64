"""Dynamic Client Registration (RFC 7591) and client configuration (RFC 7592) at the tenant issuer:
policies open/approval/closed, metadata validation with RFC 7591 error codes, registration access
tokens hashed at rest, pile-up control, initial access tokens, software statements."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from oauth.models import Application
from oauth.protocol.cache import permitted_resources
from oauth.registration.models import ClientRegistration

from .conftest import ACTOR, events_of, metadata, set_policy

pytestmark = pytest.mark.django_db


def test_open_policy_registers_an_approved_public_client(world, resource, registrar):
    set_policy(world.tenant, dcr_mode="open")
    response = registrar.register(world.tenant)
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["status"] == "approved" and body["client_name"] == "Claude Code"
    assert body["application_type"] == "native" and body["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in body
    assert body["registration_client_uri"] == f"{world.tenant.issuer}/register/{body['client_id']}"
    client = Application.objects.unscoped().get(client_id=body["client_id"])
    assert client.tenant == world.tenant and client.registration_source == "dcr"
    # No frozen list: the resources it may ask for are decided per request (oauth.protocol.cache.permitted_resources).
    assert list(client.allowed_resources.all()) == [] and list(permitted_resources(world.tenant, client)) == [resource]
    registration = client.registration
    assert registration.decision_rule == "policy: dcr open"
    # Hashed at rest: the token is not in the row.
    assert body["registration_access_token"] not in registration.registration_token_digest
    event = events_of(world.tenant, "registration.received")[-1]
    assert event.data["decision"] == "approved" and event.data["rule"] == "policy: dcr open"


def test_confidential_registration_gets_a_secret_shown_once_and_stored_as_a_digest(world, resource, registrar):
    set_policy(world.tenant, dcr_mode="open")
    body = registrar.register(world.tenant, metadata(token_endpoint_auth_method="client_secret_basic",
                                                     application_type="web",
                                                     redirect_uris=["https://app.example.com/cb"])).json()
    assert len(body["client_secret"]) >= 43 and body["client_secret_expires_at"] == 0
    stored = Application.objects.unscoped().get(client_id=body["client_id"]).client_secret
    assert body["client_secret"] not in stored


def test_approval_policy_registers_a_pending_client(world, resource, registrar):
    response = registrar.register(world.tenant)  # the default policy is "approval"
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending"
    client = Application.objects.unscoped().get(client_id=body["client_id"])
    assert client.status == "pending" and not client.is_usable(None)
    assert client.registration.decision_rule == "policy: dcr approval"


def test_closed_policy_refuses_registration_and_discovery_stops_advertising_it(world, registrar, client):
    set_policy(world.tenant, dcr_mode="closed")
    response = registrar.register(world.tenant)
    assert response.status_code == 403
    assert response.json()["error"] == "invalid_client_metadata"
    assert "closed" in response.json()["error_description"]
    assert not ClientRegistration.objects.unscoped().filter(tenant=world.tenant).exists()
    document = client.get(f"/t/{world.slug}/.well-known/oauth-authorization-server").json()
    assert "registration_endpoint" not in document


def test_discovery_advertises_registration_and_cimd_support(world, client):
    document = client.get(f"/.well-known/oauth-authorization-server/t/{world.slug}").json()
    assert document["registration_endpoint"] == f"{world.tenant.issuer}/register"
    assert document["client_id_metadata_document_supported"] is True
    set_policy(world.tenant, cimd_mode="closed")
    document = client.get(f"/.well-known/oauth-authorization-server/t/{world.slug}").json()
    assert "client_id_metadata_document_supported" not in document


@pytest.mark.parametrize("body, error, words", [
    ({"redirect_uris": ["https://app.example.com/cb#frag"]}, "invalid_redirect_uri", "fragment"),
    ({"redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri", "scheme"),
    ({"redirect_uris": ["data:text/html,hi"]}, "invalid_redirect_uri", "scheme"),
    ({"redirect_uris": ["http://app.example.com/cb"]}, "invalid_redirect_uri", "https"),
    ({"redirect_uris": ["https://" + "a" * 2100 + ".com/cb"]}, "invalid_redirect_uri", "longer"),
    ({"redirect_uris": []}, "invalid_redirect_uri", "between 1"),
    ({"redirect_uris": "https://app.example.com/cb"}, "invalid_redirect_uri", "array"),
    ({"redirect_uris": None}, "invalid_redirect_uri", "required"),
    ({"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata", "jwks"),
    ({"token_endpoint_auth_method": ["none"]}, "invalid_client_metadata", "string"),
    ({"grant_types": ["implicit"]}, "invalid_client_metadata", "implicit"),
    ({"grant_types": ["password"]}, "invalid_client_metadata", "can be granted"),
    ({"grant_types": "authorization_code"}, "invalid_client_metadata", "array"),
    ({"application_type": "desktop"}, "invalid_client_metadata", "application_type"),
    ({"client_name": "x" * 500}, "invalid_client_metadata", "client_name"),
    ({"client_name": 42}, "invalid_client_metadata", "client_name"),
    ({"logo_uri": "http://app.example.com/logo.png"}, "invalid_client_metadata", "logo_uri"),
    ({"client_uri": "javascript:alert(1)"}, "invalid_client_metadata", "client_uri"),
    ({"grant_types": ["client_credentials"], "response_types": None, "redirect_uris": None},
     "invalid_client_metadata", "confidential"),
    ({"scope": "admin:clients"}, "invalid_client_metadata", "admin"),
])
def test_invalid_metadata_is_refused_with_the_rfc_7591_code_and_a_description(world, registrar, body, error, words):
    response = registrar.register(world.tenant, metadata(**body) if body.get("redirect_uris", 1) is not None
                                  else {k: v for k, v in metadata(**body).items() if k != "redirect_uris"})
    assert response.status_code == 400, response.content
    assert response.json()["error"] == error
    assert words in response.json()["error_description"]
    assert not ClientRegistration.objects.unscoped().filter(tenant=world.tenant).exists()


@pytest.mark.parametrize("raw, content_type, status, words", [
    ("{not json", "application/json", 400, "not valid JSON"),
    ("[1, 2]", "application/json", 400, "JSON object"),
    ('"string"', "application/json", 400, "JSON object"),
    ("\xff\xfe", "application/json", 400, "JSON"),
    ("redirect_uris=https://a.example/cb", "application/x-www-form-urlencoded", 400, "application/json"),
    ("{}", "text/plain", 400, "application/json"),
    ('{"client_name": "' + "x" * 70_000 + '"}', "application/json", 413, "larger than"),
])
def test_malformed_bodies_are_refused_never_with_a_500(world, registrar, raw, content_type, status, words):
    response = registrar.register(world.tenant, raw=raw, content_type=content_type)
    assert response.status_code == status
    assert response.json()["error"] == "invalid_client_metadata" and words in response.json()["error_description"]


def test_get_is_not_registration(world, client):
    assert client.get(f"/t/{world.slug}/register").status_code == 405


def test_registration_access_token_reads_updates_and_deletes_its_client(world, resource, registrar):
    set_policy(world.tenant, dcr_mode="open")
    body = registrar.register(world.tenant).json()
    client_id, token = body["client_id"], body["registration_access_token"]

    read = registrar.configuration(world.tenant, client_id, token)
    assert read.status_code == 200 and read.json()["client_id"] == client_id
    assert "registration_access_token" not in read.json()

    update = registrar.configuration(world.tenant, client_id, token, "put", metadata(
        client_id=client_id, client_name="Claude Code 2", redirect_uris=["http://127.0.0.1:9000/cb"]))
    assert update.status_code == 200, update.content
    assert update.json()["client_name"] == "Claude Code 2"
    assert Application.objects.unscoped().get(client_id=client_id).redirect_uris == "http://127.0.0.1:9000/cb"

    bad = registrar.configuration(world.tenant, client_id, token, "put", metadata(
        client_id=client_id, redirect_uris=["javascript:x"]))
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_redirect_uri"

    assert registrar.configuration(world.tenant, client_id, "wrong-token").status_code == 401
    assert registrar.configuration(world.tenant, client_id, None).status_code == 401
    assert registrar.configuration(world.tenant, client_id, token, "delete").status_code == 204
    assert not Application.objects.unscoped().filter(client_id=client_id).exists()
    assert registrar.configuration(world.tenant, client_id, token).status_code == 401
    assert events_of(world.tenant, "registration.deleted")


@pytest.mark.embedded
def test_expired_registration_access_token_is_refused(world, resource, registrar):
    set_policy(world.tenant, dcr_mode="open")
    body = registrar.register(world.tenant).json()
    ClientRegistration.objects.unscoped().filter(application__client_id=body["client_id"]).update(
        registration_token_expires_at="2000-01-01T00:00:00Z")
    response = registrar.configuration(world.tenant, body["client_id"], body["registration_access_token"])
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


def test_identical_registrations_from_one_address_are_merged_not_piled_up(world, resource, registrar):
    first = registrar.register(world.tenant).json()
    second = registrar.register(world.tenant).json()
    other_address = registrar.register(world.tenant, address="198.51.100.9").json()
    assert second["client_id"] == first["client_id"]
    assert second["registration_access_token"] != first["registration_access_token"]
    assert other_address["client_id"] != first["client_id"]
    assert ClientRegistration.objects.unscoped().filter(tenant=world.tenant).count() == 2
    merged = ClientRegistration.objects.unscoped().get(application__client_id=first["client_id"])
    assert merged.duplicate_count == 1
    # The old registration access token was replaced.
    assert registrar.configuration(world.tenant, first["client_id"], first["registration_access_token"]).status_code \
        == 401


def test_pending_cap_refuses_more_registrations_with_a_clear_503(world, resource, registrar):
    set_policy(world.tenant, pending_cap=2)
    for n in range(2):
        assert registrar.register(world.tenant, metadata(client_name=f"app {n}")).status_code == 201
    response = registrar.register(world.tenant, metadata(client_name="app 3"))
    assert response.status_code == 503 and response.json()["error"] == "temporarily_unavailable"
    assert "waiting for approval" in response.json()["error_description"]
    assert ClientRegistration.objects.unscoped().filter(tenant=world.tenant).count() == 2


def test_initial_access_token_registers_when_closed_and_a_rule_approves_it(world, resource, registrar):
    from oauth.registration import services

    set_policy(world.tenant, dcr_mode="closed")
    services.rule_create(tenant=world.tenant, actor=ACTOR, kind="initial_access_token")
    _, token = services.initial_access_token_create(tenant=world.tenant, actor=ACTOR, label="CI", max_uses=1)
    response = registrar.register(world.tenant, token=token)
    assert response.status_code == 201 and response.json()["status"] == "approved"
    assert "initial_access_token" in ClientRegistration.objects.unscoped().get(
        application__client_id=response.json()["client_id"]).decision_rule
    used_up = registrar.register(world.tenant, metadata(client_name="again"), token=token)
    assert used_up.status_code == 401 and used_up.json()["error"] == "invalid_token"
    assert registrar.register(world.tenant, token="made-up").status_code == 401


def test_redirect_host_rule_approves_loopback_clients_under_approval(world, resource, registrar):
    from oauth.registration import services

    services.rule_create(tenant=world.tenant, actor=ACTOR, kind="redirect_host", pattern="loopback")
    loopback = registrar.register(world.tenant).json()
    web = registrar.register(world.tenant, metadata(application_type="web",
                                                    redirect_uris=["https://app.example.com/cb"])).json()
    assert loopback["status"] == "approved" and web["status"] == "pending"
    assert ClientRegistration.objects.unscoped().get(application__client_id=loopback["client_id"]).decision_rule \
        == "rule #10 redirect_host 'loopback'"


def _publisher_key():
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return key, {"keys": [{**jwk, "kid": "pub-1", "alg": "ES256"}]}


def test_software_statement_of_a_trusted_publisher_is_verified_and_can_approve(world, resource, registrar):
    from oauth.registration import services

    key, jwks = _publisher_key()
    services.publisher_create(tenant=world.tenant, actor=ACTOR, name="Acme Software", issuer="https://acme.dev",
                              jwks=jwks)
    services.rule_create(tenant=world.tenant, actor=ACTOR, kind="publisher", pattern="*")
    statement = jwt.encode({"iss": "https://acme.dev", "software_id": "acme-cli", "client_name": "Acme CLI",
                            "iat": int(time.time())}, key, algorithm="ES256", headers={"kid": "pub-1"})
    body = registrar.register(world.tenant, metadata(client_name="Spoofed name", software_statement=statement)).json()
    assert body["status"] == "approved" and body["client_name"] == "Acme CLI"  # the statement wins
    assert body["software_id"] == "acme-cli"

    other_key, _ = _publisher_key()
    forged = jwt.encode({"iss": "https://acme.dev", "client_name": "Evil"}, other_key, algorithm="ES256",
                        headers={"kid": "pub-1"})
    response = registrar.register(world.tenant, metadata(software_statement=forged))
    assert response.status_code == 400 and response.json()["error"] == "invalid_software_statement"
    unknown = jwt.encode({"iss": "https://stranger.dev"}, other_key, algorithm="ES256")
    response = registrar.register(world.tenant, metadata(software_statement=unknown))
    assert response.status_code == 400 and response.json()["error"] == "unapproved_software_statement"
    response = registrar.register(world.tenant, metadata(software_statement="not-a-jwt"))
    assert response.status_code == 400 and response.json()["error"] == "invalid_software_statement"


def test_new_redirect_uris_send_a_rule_approved_client_back_to_the_queue(world, resource, registrar):
    from oauth.registration import services

    services.rule_create(tenant=world.tenant, actor=ACTOR, kind="redirect_host", pattern="loopback")
    body = registrar.register(world.tenant).json()
    assert body["status"] == "approved"
    same_host = registrar.configuration(world.tenant, body["client_id"], body["registration_access_token"], "put",
                                        metadata(client_id=body["client_id"],
                                                 redirect_uris=["http://127.0.0.1:9000/cb"]))
    assert same_host.json()["status"] == "approved"  # still inside what the rule allows
    moved = registrar.configuration(world.tenant, body["client_id"], body["registration_access_token"], "put",
                                    metadata(client_id=body["client_id"], redirect_uris=["https://evil.example/cb"],
                                             application_type="web"))
    assert moved.status_code == 200 and moved.json()["status"] == "pending"
    registration = ClientRegistration.objects.unscoped().get(application__client_id=body["client_id"])
    assert registration.decision_rule == "changed redirect URIs: policy: dcr approval"
    assert events_of(world.tenant, "client.pending")[-1].data["reason"].startswith("new redirect URIs")
