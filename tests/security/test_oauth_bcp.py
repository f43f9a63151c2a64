"""RFC 9700 (OAuth 2.0 Security BCP) probes not covered by the flow tests of tests/oauth: redirect URI
matching, open redirects through error paths, code injection, mix-up, state, CSRF, clickjacking, session
fixation and cookie flags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.factories import PASSWORD, REDIRECT_URI, make_client
from tests.oauth.flows import authorize, authorize_url, exchange, pkce_pair, query_of

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
WEB_REDIRECT = "https://app.example.com/cb"


@pytest.fixture
def web_client(world, resource):
    client, _ = make_client(world.tenant, resources=[resource], redirect_uris=(WEB_REDIRECT, REDIRECT_URI),
                            name="Web Agent")
    return client


@pytest.fixture
def member_http(signed_in, world):
    return signed_in(world.member)


# --- redirect URIs: exact string match (loopback: any port, nothing else) -------------------------

@pytest.mark.parametrize("variant", [
    "https://app.example.com/CB",                 # case of the path
    "https://app.example.com/cb/",                # trailing slash
    "https://app.example.com/cb/extra",           # extra path
    "https://app.example.com/cb?next=https://evil.example",  # extra query
    "https://app.example.com/cb#frag",            # fragment
    "https://app.example.com@evil.example/cb",    # userinfo: the host is evil.example
    "https://app.example.com:443@evil.example/cb",
    "https://evil.example/cb#@app.example.com/cb",
    "https://app.example.com%2F@evil.example/cb",  # encoded slash
    "https://app.example.com/%2e%2e/cb",          # encoded dot segments
    "https://app.example.com/c%62",               # encoded letter
    "https://app.example.com.evil.example/cb",    # suffix
    "https://xn--pp-8cd.example.com/cb",          # IDN homograph (Cyrillic a) in punycode
    "https://аpp.example.com/cb",                 # the same homograph in Unicode
    "https://app.example.com:8443/cb",            # another port of a non-loopback host
    "http://app.example.com/cb",                  # downgrade to http
    "http://127.0.0.1:33418/callback/",           # loopback: trailing slash
    "http://127.0.0.1:33418/Callback",            # loopback: case of the path
    "http://127.0.0.1.evil.example:33418/callback",  # loopback look-alike
    "http://127.0.0.1@evil.example:33418/callback",  # loopback userinfo
    "https://127.0.0.1:33418/callback",           # loopback: another scheme
    "http://localhost:33418/callback",            # loopback: a name, not the registered literal
])
def test_a_redirect_uri_that_is_not_exactly_registered_gets_an_error_page(member_http, world, resource, web_client,
                                                                           variant):
    url = authorize_url(world.tenant, web_client, resource=resource.uri, challenge=pkce_pair()[1],
                        redirect_uri=variant)
    response = member_http.get(url)
    assert response.status_code == 400, (variant, response.status_code, response.get("Location"))
    assert not response.has_header("Location")
    consent = member_http.post(url, {"decision": "allow"})
    assert consent.status_code == 400 and not consent.has_header("Location")


def test_the_loopback_port_may_vary_but_nothing_else(member_http, world, resource, web_client):
    auth = authorize(member_http, world.tenant, web_client, resource=resource.uri,
                     redirect_uri="http://127.0.0.1:1/callback")
    assert auth.location.startswith("http://127.0.0.1:1/callback?")
    same_port_other_path = member_http.get(authorize_url(world.tenant, web_client, resource=resource.uri,
                                                         challenge="x" * 43, redirect_uri="http://127.0.0.1:1/cb"))
    assert same_port_other_path.status_code == 400


# --- error paths never redirect to an unverified place ------------------------------------------

@pytest.mark.parametrize("broken", [
    {"response_type": "token"}, {"response_type": ""}, {"scope": "nope"}, {"code_challenge_method": "plain"},
    {"resource": "https://evil.example/mcp"}, {"prompt": "bogus"},
])
def test_an_error_with_an_unregistered_redirect_uri_is_shown_not_redirected(member_http, world, resource,
                                                                            web_client, broken):
    params = {"resource": resource.uri, **broken}
    url = authorize_url(world.tenant, web_client, challenge=pkce_pair()[1], redirect_uri="https://evil.example/cb",
                        **params)
    response = member_http.get(url)
    assert response.status_code == 400 and not response.has_header("Location"), broken
    assert b"evil.example" not in response.content


def test_an_error_for_an_unknown_client_is_shown_not_redirected(client, world):
    response = client.get(f"/t/{world.slug}/authorize?response_type=code&client_id=nobody&"
                          "redirect_uri=https://evil.example/cb&state=x")
    assert response.status_code == 400 and not response.has_header("Location")


def test_sign_in_next_parameter_stays_on_the_platform(client, world):
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example/", "https:evil.example"):
        response = client.post(f"/t/{world.slug}/login?next={target}",
                               {"username": world.member.email, "password": PASSWORD})
        location = response.get("Location", "")
        assert response.status_code == 302 and "evil.example" not in location, (target, location)
        client.logout()


# --- code injection: a code is bound to its client, redirect URI and PKCE verifier ---------------

def test_a_code_issued_to_one_client_is_refused_for_another(member_http, world, resource, web_client):
    other, _ = make_client(world.tenant, resources=[resource], name="Other Agent")
    auth = authorize(member_http, world.tenant, web_client, resource=resource.uri)
    stolen = exchange(Client(), world.tenant, other, auth)
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"


def test_a_code_is_bound_to_its_redirect_uri(member_http, world, resource, web_client):
    auth = authorize(member_http, world.tenant, web_client, resource=resource.uri)
    moved = exchange(Client(), world.tenant, web_client, auth, redirect_uri=WEB_REDIRECT)
    # oauthlib answers invalid_request (its MismatchingRedirectURIError) where RFC 6749 §5.2 says invalid_grant
    assert moved.status_code == 400 and moved.json()["error"] in ("invalid_grant", "invalid_request")
    assert exchange(Client(), world.tenant, web_client, auth).status_code == 200  # the right one still works


def test_a_code_is_bound_to_the_verifier_of_its_own_flow(member_http, world, resource, web_client):
    first = authorize(member_http, world.tenant, web_client, resource=resource.uri)
    second = authorize(member_http, world.tenant, web_client, resource=resource.uri)
    first.verifier = second.verifier  # an attacker injects a code into a victim's flow
    swapped = exchange(Client(), world.tenant, web_client, first)
    assert swapped.status_code == 400 and swapped.json()["error"] == "invalid_grant"
    verifier_missing = exchange(Client(), world.tenant, web_client, second.__class__(
        second.code, "", second.state, second.location))
    assert verifier_missing.status_code == 400


# --- mix-up and state ------------------------------------------------------------------------------

def test_a_successful_authorization_response_names_the_issuer(member_http, world, resource, web_client):
    auth = authorize(member_http, world.tenant, web_client, resource=resource.uri)
    assert query_of(auth.location)["iss"] == world.tenant.issuer
    metadata = Client().get(f"/t/{world.slug}/.well-known/oauth-authorization-server").json()
    assert metadata["authorization_response_iss_parameter_supported"] is True


def test_state_comes_back_byte_for_byte(member_http, world, resource, web_client):
    state = "a b&c=d/é+%20<x>"
    url = authorize_url(world.tenant, web_client, resource=resource.uri, challenge=pkce_pair()[1], state=state)
    response = member_http.post(url, {"decision": "allow"})
    assert query_of(response["Location"])["state"] == state


# --- CSRF, clickjacking, session fixation ----------------------------------------------------------

def test_sign_in_without_a_csrf_token_is_refused(world):
    http = Client(enforce_csrf_checks=True)
    http.get(f"/t/{world.slug}/login")
    response = http.post(f"/t/{world.slug}/login", {"username": world.member.email, "password": PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in http.session


def test_consent_without_a_csrf_token_is_refused(world, resource, web_client):
    http = Client(enforce_csrf_checks=True)
    http.force_login(world.member, backend="identity.backends.EmailBackend")
    url = authorize_url(world.tenant, web_client, resource=resource.uri, challenge=pkce_pair()[1])
    assert http.get(url).status_code == 200  # the consent page
    forged = http.post(url, {"decision": "allow"})
    assert forged.status_code == 403 and not forged.has_header("Location")


def _framing_refused(response) -> bool:
    csp = response.get("Content-Security-Policy", "")
    return response.get("X-Frame-Options", "").upper() == "DENY" or "frame-ancestors 'none'" in csp


def test_sign_in_and_consent_pages_refuse_to_be_framed(member_http, world, resource, web_client):
    sign_in = Client().get(f"/t/{world.slug}/login")
    consent = member_http.get(authorize_url(world.tenant, web_client, resource=resource.uri,
                                            challenge=pkce_pair()[1]))
    assert sign_in.status_code == 200 and consent.status_code == 200
    assert _framing_refused(sign_in) and _framing_refused(consent)


def test_signing_in_rotates_the_session_key(world):
    http = Client()
    http.get(f"/t/{world.slug}/login")
    session = http.session
    session["planted"] = "by an attacker"
    session.save()
    from django.conf import settings

    http.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    before = session.session_key
    response = http.post(f"/t/{world.slug}/login", {"username": world.member.email, "password": PASSWORD})
    assert response.status_code == 302
    after = http.cookies[settings.SESSION_COOKIE_NAME].value
    assert after != before
    from django.contrib.sessions.backends.db import SessionStore

    assert not SessionStore().exists(before) or SessionStore(session_key=before).load().get("_auth_user_id") is None


# --- production settings ---------------------------------------------------------------------------

def _production_settings(*names: str) -> dict:
    env = {**os.environ, "PLATFORM_MODE": "production", "PUBLIC_URL": "https://auth.example.com",
           "SECRET_KEY": "k" * 60 + "-production-test-not-a-real-key",
           "PLATFORM_KEK": "v1:" + "A" * 43 + "=", "DJANGO_SETTINGS_MODULE": "mcp_platform.settings",
           "ALLOWED_HOSTS": "auth.example.com"}
    code = ("import django, json; django.setup(); from django.conf import settings; "
            f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_production_cookies_are_secure_httponly_samesite_and_host_prefixed():
    s = _production_settings("SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SAMESITE",
                             "SESSION_COOKIE_NAME", "CSRF_COOKIE_SECURE", "CSRF_COOKIE_HTTPONLY", "CSRF_COOKIE_NAME",
                             "SECURE_HSTS_SECONDS", "X_FRAME_OPTIONS")
    assert s["SESSION_COOKIE_SECURE"] and s["CSRF_COOKIE_SECURE"]
    assert s["SESSION_COOKIE_HTTPONLY"] and s["CSRF_COOKIE_HTTPONLY"]
    assert s["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert s["SESSION_COOKIE_NAME"].startswith("__Host-") and s["CSRF_COOKIE_NAME"].startswith("__Host-")
    assert s["SECURE_HSTS_SECONDS"] >= 31536000 and s["X_FRAME_OPTIONS"] == "DENY"


def test_production_settings_pass_djangos_deployment_checklist():
    env = {**os.environ, "PLATFORM_MODE": "production", "PUBLIC_URL": "https://auth.example.com",
           "SECRET_KEY": "Zq8" * 20 + "-production-test-not-a-real-key", "PLATFORM_KEK": "v1:" + "A" * 43 + "=",
           "ALLOWED_HOSTS": "auth.example.com", "SECURE_SSL_REDIRECT": "true", "DEBUG": "false"}
    command = [sys.executable, "manage.py", "check", "--deploy", "--tag", "security", "--fail-level", "WARNING"]
    out = subprocess.run(command, cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def _production_start(public_url: str, **extra) -> subprocess.CompletedProcess:
    env = {**os.environ, "PLATFORM_MODE": "production", "PUBLIC_URL": public_url,
           "SECRET_KEY": "k" * 60 + "-production-test-not-a-real-key", "PLATFORM_KEK": "v1:" + "A" * 43 + "=",
           "DJANGO_SETTINGS_MODULE": "mcp_platform.settings"}
    env.pop("PUBLIC_URL_HTTP_BEHIND_TLS", None)
    env.update(extra)
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_production_refuses_to_start_with_a_plain_http_public_url():
    """Issue 16 item 24."""
    refused = _production_start("http://auth.example.com")
    assert refused.returncode != 0
    assert "needs an https PUBLIC_URL" in refused.stderr and "PUBLIC_URL_HTTP_BEHIND_TLS" in refused.stderr
    assert _production_start("http://10.0.0.5:8000").returncode != 0


@pytest.mark.parametrize("public_url, extra", [
    ("https://auth.example.com", {}),
    ("http://auth.internal.example", {"PUBLIC_URL_HTTP_BEHIND_TLS": "true"}),
    ("http://127.0.0.1:8100", {}),  # a production-mode run on one machine (bench/)
    ("http://localhost:8000", {}),
])
def test_production_starts_with_https_loopback_or_tls_declared_in_front(public_url, extra):
    started = _production_start(public_url, **extra)
    assert started.returncode == 0, started.stderr[-2000:]
