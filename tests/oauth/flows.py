"""Drivers of the OAuth flows through the real endpoints, with a Django test client: PKCE pairs, the
authorization-code flow (authorize -> consent -> code -> token), refresh and client_credentials. The
objects they drive are built by tests/factories.py.

    from tests.oauth.flows import authorize, exchange, pkce_pair
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.factories import REDIRECT_URI


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def query_of(location: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class Authorization:
    code: str
    verifier: str
    state: str
    location: str


def authorize_url(tenant, client, *, resource: str | None, challenge: str, state: str = "st4te",
                  scope: str | None = None, method: str = "S256", redirect_uri: str = REDIRECT_URI, **extra) -> str:
    params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": redirect_uri,
              "state": state, "code_challenge": challenge, "code_challenge_method": method, **extra}
    if resource:
        params["resource"] = resource
    if scope is not None:
        params["scope"] = scope
    return f"/t/{tenant.slug}/authorize?{urlencode(params)}"


def authorize(http, tenant, client, *, resource: str | None, scope: str | None = None,
              redirect_uri: str = REDIRECT_URI) -> Authorization:
    """Drives authorize -> consent (allow) -> redirect with a signed-in Django test client."""
    verifier, challenge = pkce_pair()
    url = authorize_url(tenant, client, resource=resource, challenge=challenge, scope=scope,
                        redirect_uri=redirect_uri)
    response = http.get(url)
    if response.status_code == 200:  # consent page
        response = http.post(url, {"decision": "allow"})
    assert response.status_code == 302, (response.status_code, response.content[:500])
    location = response["Location"]
    params = query_of(location)
    assert "code" in params, location
    return Authorization(code=params["code"], verifier=verifier, state=params.get("state", ""), location=location)


def exchange(http, tenant, client, auth: Authorization, *, resource: str | None = None,
             redirect_uri: str = REDIRECT_URI, secret: str | None = None):
    data = {"grant_type": "authorization_code", "code": auth.code, "redirect_uri": redirect_uri,
            "client_id": client.client_id, "code_verifier": auth.verifier}
    if resource:
        data["resource"] = resource
    headers = {"HTTP_AUTHORIZATION": basic(client.client_id, secret)} if secret else {}
    return http.post(f"/t/{tenant.slug}/token", data, **headers)


def refresh(http, tenant, client, refresh_token: str, **extra):
    return http.post(f"/t/{tenant.slug}/token", {"grant_type": "refresh_token", "refresh_token": refresh_token,
                                                 "client_id": client.client_id, **extra})


def client_credentials(http, tenant, client, secret: str, **extra):
    return http.post(f"/t/{tenant.slug}/token", {"grant_type": "client_credentials", **extra},
                     HTTP_AUTHORIZATION=basic(client.client_id, secret))
