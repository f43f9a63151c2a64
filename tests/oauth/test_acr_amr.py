"""How the person signed in reaches the client: ``amr`` (RFC 8176) and ``acr`` in the ID token, ``acr_values``
asking for a second factor forces it, ``max_age`` forces a new sign-in, and the metadata advertises the
acr values it honours."""

from __future__ import annotations

import time

import jwt
import pytest
from django.test import Client

from kit import authn
from tests.identity.mfa_helpers import enrol_totp, next_code, password_sign_in
from tests.oauth.flows import authorize, authorize_url, exchange, pkce_pair, query_of

pytestmark = pytest.mark.django_db


def id_token_claims(http, world, client, body):
    jwks = http.get(f"/t/{world.slug}/jwks.json").json()["keys"]
    return jwt.decode(body["id_token"], jwt.PyJWK(jwks[0]), algorithms=["RS256"], audience=client.client_id,
                      issuer=world.tenant.issuer)


def test_metadata_advertises_the_acr_values_it_honours(client, world):
    metadata = client.get("/t/acme/.well-known/openid-configuration").json()
    assert metadata["acr_values_supported"] == authn.ACR_VALUES_SUPPORTED
    assert {"amr", "acr"} <= set(metadata["claims_supported"])


def test_password_sign_in_gives_pwd_and_the_single_factor_acr(client, world, resource, public_client):
    password_sign_in(client, world.member, slug="acme")
    auth = authorize(client, world.tenant, public_client, resource=resource.uri, scope="openid tools:read")
    claims = id_token_claims(client, world, public_client, exchange(client, world.tenant, public_client, auth).json())
    assert claims["amr"] == ["pwd"] and claims["acr"] == authn.ACR_SINGLE_FACTOR
    assert abs(claims["auth_time"] - time.time()) < 60


def test_acr_values_asking_for_mfa_forces_the_second_factor(client, world, resource, public_client):
    password_sign_in(client, world.member, slug="acme")
    secret, _ = enrol_totp(client, slug="acme")
    browser = Client()
    password_sign_in(browser, world.member, slug="acme")
    browser.post("/t/acme/mfa", {"code": next_code(secret)})  # a full sign-in: pwd + otp
    verifier, challenge = pkce_pair()
    url = authorize_url(world.tenant, public_client, resource=resource.uri, challenge=challenge,
                        scope="openid tools:read", acr_values=authn.PAPE_MULTI_FACTOR)
    # A session of one factor only (an older sign-in) is sent to the challenge, then back here.
    session = browser.session
    session[authn.AMR_KEY] = ["pwd"]
    session.save()
    answer = browser.get(url)
    assert answer.status_code == 302 and answer["Location"].startswith("/t/acme/mfa?next=")
    assert "prompt=none" not in url
    none = browser.get(url + "&prompt=none")
    assert query_of(none["Location"])["error"] == "interaction_required"
    back = browser.post(answer["Location"], {"code": next_code(secret, after=next_code(secret))})
    assert back["Location"] == url
    consent = browser.get(url)
    if consent.status_code == 200:
        consent = browser.post(url, {"decision": "allow"})
    code = query_of(consent["Location"])["code"]
    body = browser.post("/t/acme/token", {"grant_type": "authorization_code", "code": code,
                                          "redirect_uri": query_of(url)["redirect_uri"],
                                          "client_id": public_client.client_id, "code_verifier": verifier}).json()
    claims = id_token_claims(browser, world, public_client, body)
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == authn.ACR_MULTI_FACTOR


def test_max_age_forces_a_new_sign_in_when_the_last_is_older(client, world, resource, public_client):
    password_sign_in(client, world.member, slug="acme")
    session = client.session
    session[authn.AUTH_TIME_KEY] = int(time.time()) - 600
    session.save()
    _, challenge = pkce_pair()
    url = authorize_url(world.tenant, public_client, resource=resource.uri, challenge=challenge,
                        scope="openid tools:read", max_age="300")
    answer = client.get(url)
    assert answer.status_code == 302 and answer["Location"].startswith("/t/acme/login?next=")
    assert "max_age" not in query_of(answer["Location"])["next"]  # else max_age=0 could never be met
    fresh = authorize_url(world.tenant, public_client, resource=resource.uri, challenge=challenge,
                          scope="openid tools:read", max_age="3600")
    assert client.get(fresh).status_code == 200  # recent enough: the consent page
