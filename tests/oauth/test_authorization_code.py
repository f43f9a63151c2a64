"""Authorization code + PKCE + consent + refresh rotation, driven through the real endpoints."""

from urllib.parse import urlsplit

import jwt
import pytest

from audit.models import AuditEvent
from oauth.models import AccessToken, Consent, RefreshToken
from tests.factories import REDIRECT_URI, make_client, make_resource
from tests.oauth.flows import authorize, authorize_url, basic, exchange, pkce_pair, query_of, refresh

from .test_token_endpoint import verify_with_jwks


@pytest.mark.django_db
def test_full_flow_sign_in_consent_code_token_refresh_rotation(client, world, resource, public_client):
    tenant = world.tenant
    verifier, challenge = pkce_pair()
    url = authorize_url(tenant, public_client, resource=resource.uri, challenge=challenge,
                        scope="tools:read offline_access")
    # Anonymous: sent to the tenant's sign-in page, coming back to this very request.
    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/t/acme/login?next=%2Ft%2Facme%2Fauthorize%3F")
    signed = client.post(anonymous["Location"], {"username": world.member.email,
                                                 "password": "correct-horse-battery-staple",
                                                 "next": url})
    assert signed.status_code == 302 and signed["Location"] == url
    consent = client.get(url)
    assert consent.status_code == 200
    page = consent.content.decode()
    assert "Claude Desktop" in page and "Unverified" in page and "127.0.0.1:33418" in page
    assert "Read tools" in page and resource.uri in page
    assert "<script" not in page and "style=" not in page  # CSP: no inline script or style
    approved = client.post(url, {"decision": "allow"})
    assert approved.status_code == 302
    location = approved["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    params = query_of(location)
    assert params["state"] == "st4te" and params["iss"] == tenant.issuer

    response = client.post("/t/acme/token", {"grant_type": "authorization_code", "code": params["code"],
                                             "redirect_uri": REDIRECT_URI, "client_id": public_client.client_id,
                                             "code_verifier": verifier, "resource": resource.uri})
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    claims = verify_with_jwks(client, tenant, body["access_token"], resource.uri)
    assert claims["sub"] == str(world.member.pk) and claims["client_id"] == public_client.client_id
    assert claims["scope"] == "tools:read offline_access" and claims["iss"] == tenant.issuer
    assert "auth_time" in claims
    first_refresh = body["refresh_token"]

    rotated = refresh(client, tenant, public_client, first_refresh)
    assert rotated.status_code == 200, rotated.content
    second = rotated.json()
    assert second["refresh_token"] != first_refresh and second["access_token"] != body["access_token"]
    assert verify_with_jwks(client, tenant, second["access_token"], resource.uri)["scope"] == claims["scope"]
    narrowed = refresh(client, tenant, public_client, second["refresh_token"], scope="tools:read")
    assert narrowed.status_code == 200 and narrowed.json()["scope"] == "tools:read"
    assert AuditEvent.objects.filter(action="consent.granted").count() == 1
    assert AuditEvent.objects.filter(action="token.issued").count() == 3


@pytest.mark.django_db
def test_remembered_consent_skips_the_page_the_second_time(member_http, world, resource, public_client):
    authorize(member_http, world.tenant, public_client, resource=resource.uri)
    verifier, challenge = pkce_pair()
    again = member_http.get(authorize_url(world.tenant, public_client, resource=resource.uri, challenge=challenge))
    assert again.status_code == 302 and "code=" in again["Location"]
    # A wider scope set asks again.
    wider = member_http.get(authorize_url(world.tenant, public_client, resource=resource.uri, challenge=challenge,
                                          scope="tools:read tools:write"))
    assert wider.status_code == 200 and b"Change things" in wider.content


@pytest.mark.django_db
def test_no_scope_gets_the_resource_default_scopes(member_http, world, resource, public_client):
    auth = authorize(member_http, world.tenant, public_client, resource=resource.uri, scope=None)
    body = exchange(member_http, world.tenant, public_client, auth).json()
    assert body["scope"] == "tools:read"  # granted_by_default only, not tools:write


@pytest.mark.django_db
def test_deny_redirects_access_denied_with_state_and_iss(member_http, world, resource, public_client):
    verifier, challenge = pkce_pair()
    url = authorize_url(world.tenant, public_client, resource=resource.uri, challenge=challenge)
    denied = member_http.post(url, {"decision": "deny"})
    params = query_of(denied["Location"])
    assert params == {"error": "access_denied", "error_description": params["error_description"],
                      "state": "st4te", "iss": world.tenant.issuer}


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["plain", None])
def test_plain_and_missing_pkce_method_are_refused(member_http, world, resource, public_client, method):
    verifier, challenge = pkce_pair()
    url = authorize_url(world.tenant, public_client, resource=resource.uri, challenge=challenge, method=method or "")
    params = query_of(member_http.get(url)["Location"])
    assert params["error"] == "invalid_request" and params["iss"] == world.tenant.issuer
    assert params["state"] == "st4te"


@pytest.mark.django_db
def test_missing_code_challenge_is_refused(member_http, world, resource, public_client):
    url = authorize_url(world.tenant, public_client, resource=resource.uri, challenge="")
    url = url.replace("&code_challenge=&", "&")
    params = query_of(member_http.get(url)["Location"])
    assert params["error"] == "invalid_request" and params["iss"] == world.tenant.issuer


@pytest.mark.django_db
@pytest.mark.parametrize("challenge", ["a" * 42, "a" * 129, "a" * 42 + "!", "a" * 42 + "=", "x"])
def test_a_code_challenge_outside_rfc7636s_shape_is_invalid_request(member_http, world, resource, public_client,
                                                                     challenge):
    """Issue 16 item 20: 43-128 unreserved characters (RFC 7636 §4.2), refused before sign-in or consent."""
    url = authorize_url(world.tenant, public_client, resource=resource.uri, challenge=challenge)
    response = member_http.get(url)
    assert response.status_code == 302
    params = query_of(response["Location"])
    assert params["error"] == "invalid_request" and "43 to 128" in params["error_description"]
    assert params["state"] == "st4te" and params["iss"] == world.tenant.issuer
    assert not Consent.objects.for_tenant(world.tenant).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("length", [43, 128])
def test_code_challenges_of_43_and_128_characters_are_accepted(member_http, world, resource, public_client, length):
    url = authorize_url(world.tenant, public_client, resource=resource.uri, challenge="A" * length)
    response = member_http.get(url)
    assert response.status_code == 200 or "error=" not in response.get("Location", "")


@pytest.mark.django_db
def test_wrong_code_verifier_is_invalid_grant(member_http, world, resource, public_client):
    auth = authorize(member_http, world.tenant, public_client, resource=resource.uri)
    auth.verifier = pkce_pair()[0]
    response = exchange(member_http, world.tenant, public_client, auth)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


@pytest.mark.django_db
def test_unknown_resource_is_invalid_target_before_sign_in_or_consent(client, world, public_client):
    verifier, challenge = pkce_pair()
    response = client.get(authorize_url(world.tenant, public_client, resource="https://evil.example/mcp",
                                        challenge=challenge))
    params = query_of(response["Location"])
    assert response["Location"].startswith(REDIRECT_URI)
    assert params["error"] == "invalid_target" and params["iss"] == world.tenant.issuer
    assert "not registered for tenant 'acme'" in params["error_description"]


@pytest.mark.django_db
def test_unknown_scope_is_invalid_scope(member_http, world, resource, public_client):
    verifier, challenge = pkce_pair()
    response = member_http.get(authorize_url(world.tenant, public_client, resource=resource.uri,
                                             challenge=challenge, scope="tools:read root"))
    assert query_of(response["Location"])["error"] == "invalid_scope"


@pytest.mark.django_db
def test_token_request_may_not_switch_resource(member_http, world, resource, public_client):
    other = make_resource(world.tenant, "https://other.acme.example/mcp", name="other")
    public_client.allowed_resources.add(other)
    auth = authorize(member_http, world.tenant, public_client, resource=resource.uri)
    response = exchange(member_http, world.tenant, public_client, auth, resource=other.uri)
    assert response.status_code == 400 and response.json()["error"] == "invalid_target"


@pytest.mark.django_db
def test_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(member_http, world, resource, public_client):
    verifier, challenge = pkce_pair()
    response = member_http.get(authorize_url(world.tenant, public_client, resource=resource.uri,
                                             challenge=challenge, redirect_uri="https://evil.example/cb"))
    assert response.status_code == 400
    assert b"has not registered" in response.content and b"evil.example/cb" not in response.content


@pytest.mark.django_db
def test_unknown_client_gets_an_error_page(client, world):
    response = client.get("/t/acme/authorize?response_type=code&client_id=nobody&redirect_uri=https://x.example/cb"
                          "&code_challenge=abc&code_challenge_method=S256")
    assert response.status_code == 400 and b"not registered" in response.content


@pytest.mark.django_db
def test_loopback_redirect_may_use_any_port(member_http, world, resource, public_client):
    auth = authorize(member_http, world.tenant, public_client, resource=resource.uri,
                     redirect_uri="http://127.0.0.1:50123/callback")
    assert urlsplit(auth.location).port == 50123
    response = exchange(member_http, world.tenant, public_client, auth, redirect_uri="http://127.0.0.1:50123/callback")
    assert response.status_code == 200
    other_path = member_http.get(authorize_url(world.tenant, public_client, resource=resource.uri,
                                               challenge="x" * 43, redirect_uri="http://127.0.0.1:50123/other"))
    assert other_path.status_code == 400


@pytest.mark.django_db
def test_a_non_member_cannot_authorize(signed_in, make_user, world, resource, public_client):
    http = signed_in(make_user("stranger@else.example"))
    verifier, challenge = pkce_pair()
    response = http.get(authorize_url(world.tenant, public_client, resource=resource.uri, challenge=challenge))
    assert response.status_code == 403 and b"not a member" in response.content


@pytest.mark.django_db
def test_code_replay_is_refused_and_revokes_the_tokens_it_got(member_http, world, resource, public_client):
    auth = authorize(member_http, world.tenant, public_client, resource=resource.uri)
    first = exchange(member_http, world.tenant, public_client, auth)
    assert first.status_code == 200
    replay = exchange(member_http, world.tenant, public_client, auth)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.for_tenant(world.tenant).exists()
    assert not RefreshToken.objects.for_tenant(world.tenant).filter(revoked__isnull=True).exists()
    assert refresh(member_http, world.tenant, public_client, first.json()["refresh_token"]).status_code == 400
    assert AuditEvent.objects.filter(action="token.code_replay").exists()


@pytest.mark.django_db
def test_refresh_token_reuse_revokes_the_family(member_http, world, resource, public_client):
    auth = authorize(member_http, world.tenant, public_client, resource=resource.uri)
    first = exchange(member_http, world.tenant, public_client, auth).json()
    second = refresh(member_http, world.tenant, public_client, first["refresh_token"]).json()
    reused = refresh(member_http, world.tenant, public_client, first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # The legitimate latest token dies with the family: whoever holds it must sign in again.
    after = refresh(member_http, world.tenant, public_client, second["refresh_token"])
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.for_tenant(world.tenant).exists()
    event = AuditEvent.objects.filter(action="security.refresh_token_reused").first()
    assert event.severity in ("warning", "critical")


@pytest.mark.django_db
def test_openid_request_gets_an_id_token_and_userinfo(member_http, world, resource, public_client):
    auth = authorize(member_http, world.tenant, public_client, resource=resource.uri, scope="openid email tools:read")
    body = exchange(member_http, world.tenant, public_client, auth).json()
    jwks = member_http.get("/t/acme/jwks.json").json()["keys"]
    id_claims = jwt.decode(body["id_token"], jwt.PyJWK(jwks[0]), algorithms=["RS256"],
                           audience=public_client.client_id, issuer=world.tenant.issuer)
    assert id_claims["sub"] == str(world.member.pk) and id_claims["email"] == world.member.email
    info = member_http.get("/t/acme/userinfo", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert info.status_code == 200 and info.json()["email"] == world.member.email
    assert member_http.get("/t/acme/userinfo").status_code == 401


@pytest.mark.django_db
def test_sign_in_only_request_without_resource_gets_a_userinfo_token(member_http, world, public_client):
    second, _ = make_client(world.tenant, resources=[], name="Plain OIDC app")
    auth = authorize(member_http, world.tenant, second, resource=None, scope="openid")
    body = exchange(member_http, world.tenant, second, auth).json()
    assert jwt.decode(body["access_token"], options={"verify_signature": False})["aud"] == \
        f"{world.tenant.issuer}/userinfo"


@pytest.mark.django_db
def test_without_resource_a_client_with_one_resource_gets_that_one(member_http, world, resource, public_client):
    auth = authorize(member_http, world.tenant, public_client, resource=None)
    body = exchange(member_http, world.tenant, public_client, auth).json()
    assert jwt.decode(body["access_token"], options={"verify_signature": False})["aud"] == resource.uri
    assert Consent.objects.for_tenant(world.tenant).get().audience == resource.uri


@pytest.mark.django_db
def test_a_confidential_web_app_must_authenticate_at_the_token_endpoint(member_http, world, resource):
    web, secret = make_client(world.tenant, resources=[resource], public=False,
                              grant_types=["authorization_code", "refresh_token"], name="Web app")
    auth = authorize(member_http, world.tenant, web, resource=resource.uri)
    unauthenticated = exchange(member_http, world.tenant, web, auth)
    assert unauthenticated.status_code == 401 and unauthenticated.json()["error"] == "invalid_client"
    response = exchange(member_http, world.tenant, web, auth, secret=secret)
    assert response.status_code == 200, response.content
    again = member_http.post("/t/acme/token", {"grant_type": "refresh_token",
                                               "refresh_token": response.json()["refresh_token"]},
                             HTTP_AUTHORIZATION=basic(web.client_id, secret))
    assert again.status_code == 200


@pytest.mark.django_db
def test_prompt_login_and_max_age_ask_for_a_fresh_sign_in_once(client, world, resource, public_client):
    from datetime import timedelta

    from django.utils import timezone

    from kit import authn

    client.force_login(world.member, backend="identity.backends.EmailBackend")  # the session's sign-in: age it
    type(world.member).objects.filter(pk=world.member.pk).update(last_login=timezone.now() - timedelta(hours=1))
    session = client.session
    session[authn.AUTH_TIME_KEY] = int((timezone.now() - timedelta(hours=1)).timestamp())
    session.save()
    verifier, challenge = pkce_pair()
    for extra in ({"prompt": "login"}, {"max_age": "60"}):
        url = authorize_url(world.tenant, public_client, resource=resource.uri, challenge=challenge, **extra)
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/t/acme/login?next="), extra
        assert "prompt%3Dlogin" not in response["Location"]  # no sign-in loop
    signed = client.post("/t/acme/login", {"username": world.member.email, "password": "correct-horse-battery-staple",
                                           "next": query_of("http://x/?" + response["Location"].split("?", 1)[1])[
                                               "next"]})
    assert signed.status_code == 302
    assert client.get(signed["Location"]).status_code == 200  # fresh now: the consent page
