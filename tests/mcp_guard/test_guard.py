"""mcp_guard's token checks and challenges, in front of a small ASGI app: every bad token is refused with
the right status and WWW-Authenticate challenge, never a 500, and the app never sees the raw token."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from mcp_guard import GuardMiddleware, IntrospectionVerifier, ResourceConfig, TokenVerifier, current_token
from mcp_guard.errors import TokenError
from tests.mcp_registry.conftest import run_async

from .issuer import LocalIssuer

RESOURCE = "https://files.example/mcp"


def run(coro):
    async def wrapper():
        return await coro
    return run_async(wrapper)


async def echo_app(scope, receive, send):
    """Answers with what the guard handed over: the verified claims and whether a token header survived."""
    token = current_token(scope)
    body = json.dumps({"sub": token.subject if token else None, "scopes": sorted(token.scopes) if token else [],
                       "authorization_header_seen": any(k == b"authorization" for k, _ in scope["headers"])})
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body.encode()})


@pytest.fixture
def issuer(document_server):
    return LocalIssuer(document_server)


@pytest.fixture
def config(issuer):
    return ResourceConfig.build(resource=RESOURCE, issuer=issuer.issuer, scopes=["files:read"],
                                tool_scopes={"read_file": ["files:read"], "delete_file": ["files:read", "files:admin"]})


@pytest.fixture
def guarded(config):
    return guard_caller(config)


def guard_caller(config, **options):
    """Calls echo_app behind a GuardMiddleware built with ``options``."""
    verifier = TokenVerifier(issuer=config.issuer, resource=RESOURCE, refresh_interval=30)
    app = GuardMiddleware(echo_app, config=config, verifier=verifier, **options)

    def call(method="POST", path="/mcp", token=None, body=None, headers=None, query=""):
        async def go():
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://files.example") as c:
                h = {"Authorization": f"Bearer {token}"} if token else {}
                h.update(headers or {})
                return await c.request(method, path + (f"?{query}" if query else ""), headers=h,
                                       content=json.dumps(body).encode() if body is not None else None)
        return run(go())

    call.verifier = verifier
    return call


def challenge_of(response) -> dict:
    header = response.headers["www-authenticate"]
    assert header.startswith("Bearer")
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def tools_call(name, id_=1):
    return {"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": {"name": name, "arguments": {}}}


def test_a_request_without_a_token_gets_401_with_the_discovery_challenge(guarded):
    response = guarded()
    assert response.status_code == 401
    assert challenge_of(response) == {
        "resource_metadata": "https://files.example/.well-known/oauth-protected-resource/mcp",
        "scope": "files:read"}


def test_a_valid_token_reaches_the_app_as_claims_without_the_raw_token(guarded, issuer):
    for kid in ("rsa-1", "ec-1"):
        response = guarded(token=issuer.mint(RESOURCE, kid=kid, scope="files:read"))
        assert response.status_code == 200, response.text
        assert response.json() == {"sub": "user-1", "scopes": ["files:read"], "authorization_header_seen": False}


@pytest.mark.parametrize("case", ["wrong_aud", "aud_of_another_resource_list", "wrong_iss", "expired",
                                  "not_yet_valid", "no_exp", "no_typ", "id_token_typ", "garbage", "tampered"])
def test_invalid_tokens_get_401_invalid_token(guarded, issuer, case):
    token = {
        "wrong_aud": lambda: issuer.mint("https://other.example/mcp"),
        "aud_of_another_resource_list": lambda: issuer.mint(["https://a.example/mcp", "https://b.example/mcp"]),
        "wrong_iss": lambda: issuer.mint(RESOURCE, iss="https://evil.example/t/local"),
        "expired": lambda: issuer.mint(RESOURCE, lifetime=-120),
        "not_yet_valid": lambda: issuer.mint(RESOURCE, nbf=int(time.time()) + 600),
        "no_exp": lambda: issuer.mint(RESOURCE, exp=None),
        "no_typ": lambda: issuer.mint(RESOURCE, headers={"typ": "JWT"}),
        "id_token_typ": lambda: issuer.mint(RESOURCE, headers={"typ": None}),
        "garbage": lambda: "not.a.jwt",
        "tampered": lambda: issuer.mint(RESOURCE)[:-6] + "AAAAAA",
    }[case]()
    response = guarded(token=token)
    assert response.status_code == 401, response.text
    challenge = challenge_of(response)
    assert challenge["error"] == "invalid_token"
    assert challenge["resource_metadata"].endswith("/oauth-protected-resource/mcp")


def _unsigned(header: dict, payload: dict) -> str:
    def b64(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{b64(header)}.{b64(payload)}"


def test_alg_none_is_refused(guarded):
    payload = {"iss": "x", "aud": RESOURCE, "exp": int(time.time()) + 60, "scope": "files:read"}
    token = _unsigned({"alg": "none", "typ": "at+jwt", "kid": "rsa-1"}, payload) + "."
    response = guarded(token=token)
    assert response.status_code == 401 and challenge_of(response)["error"] == "invalid_token"


def test_hs256_signed_with_the_public_key_as_secret_is_refused(guarded, issuer):
    public_pem = issuer.keys["rsa-1"][1].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    signing_input = _unsigned({"alg": "HS256", "typ": "at+jwt", "kid": "rsa-1"},
                              {"iss": issuer.issuer, "aud": RESOURCE, "exp": now + 60, "iat": now,
                               "scope": "files:read", "sub": "attacker"})
    signature = base64.urlsafe_b64encode(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())
    response = guarded(token=f"{signing_input}.{signature.rstrip(b'=').decode()}")
    assert response.status_code == 401 and challenge_of(response)["error"] == "invalid_token"


def test_a_flood_of_unknown_kids_fetches_the_jwks_at_most_once_per_interval(guarded, issuer):
    assert guarded(token=issuer.mint(RESOURCE)).status_code == 200
    fetched = issuer.jwks_hits
    assert fetched == 1
    for i in range(40):
        forged = issuer.mint(RESOURCE, headers={"kid": f"made-up-{i}"})
        response = guarded(token=forged)
        assert response.status_code == 401 and challenge_of(response)["error"] == "invalid_token"
    # The first unknown kid refreshes at once (it could be a rotation); the other 39 wait for the interval.
    assert issuer.jwks_hits == fetched + 1, "unknown kids inside the refresh interval must not reach the issuer"


def test_a_rotated_key_is_picked_up_by_one_refresh_at_once(guarded, issuer):
    """A key that starts signing before the guard's cached JWKS expires: its first token refreshes at
    once instead of failing for refresh_interval seconds (at 562953a: 401 for up to 30 s)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    assert guarded(token=issuer.mint(RESOURCE)).status_code == 200
    issuer.keys["ec-2"] = ("ES256", ec.generate_private_key(ec.SECP256R1()))
    issuer.publish()
    assert guarded(token=issuer.mint(RESOURCE, kid="ec-2")).status_code == 200
    assert issuer.jwks_hits == 2
    del issuer.keys["ec-2"]
    issuer.publish()


def test_a_key_removed_from_the_jwks_stops_being_accepted_within_its_max_age(config, issuer, document_server):
    """Emergency removal: the issuer drops a compromised key; a token forged with it works at most until
    the guard's cached JWKS expires (its max-age), then never (at 562953a: until an unknown kid came)."""
    jwks_headers = {"Cache-Control": "public, max-age=1"}
    document_server.put(issuer.jwks_path, {"keys": [issuer.public_jwk(k) for k in issuer.keys]},
                        headers=jwks_headers)
    verifier = TokenVerifier(issuer=config.issuer, resource=RESOURCE, min_cache_seconds=0.5)
    app = GuardMiddleware(echo_app, config=config, verifier=verifier)

    def call(token):
        async def go():
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://files.example") as c:
                return await c.post("/mcp", headers={"Authorization": f"Bearer {token}"})
        return run(go())

    assert call(issuer.mint(RESOURCE, kid="ec-1")).status_code == 200
    assert 0 < verifier.keys_expire_in <= 1
    document_server.put(issuer.jwks_path, {"keys": [issuer.public_jwk("rsa-1")]}, headers=jwks_headers)
    removed_at = time.monotonic()
    while call(issuer.mint(RESOURCE, kid="ec-1")).status_code == 200:
        assert time.monotonic() - removed_at < 1.5, "the removed key was still accepted after its max-age"
        time.sleep(0.1)
    assert call(issuer.mint(RESOURCE, kid="rsa-1")).status_code == 200  # the remaining key still works


def test_the_guard_caps_and_floors_the_issuers_cache_lifetime(config, issuer, document_server):
    from mcp_guard.verifier import cache_lifetime

    assert cache_lifetime("public, max-age=300") == 300 and cache_lifetime("no-store") == 0
    assert cache_lifetime(None) is None and cache_lifetime("max-age=abc") is None
    for header, expected in (("public, max-age=86400", 300), ("no-cache", 5), (None, 300)):
        document_server.put(issuer.jwks_path, {"keys": [issuer.public_jwk(k) for k in issuer.keys]},
                            headers={"Cache-Control": header} if header else {})
        verifier = TokenVerifier(issuer=config.issuer, resource=RESOURCE)
        run(verifier.verify(issuer.mint(RESOURCE)))
        assert expected - 1 < verifier.keys_expire_in <= expected, header


def test_an_oversized_token_is_refused_before_parsing(guarded, issuer):
    response = guarded(token=issuer.mint(RESOURCE, padding="x" * 10000))
    assert response.status_code == 401 and "larger than" in challenge_of(response)["error_description"]
    assert issuer.jwks_hits == 0


def test_a_token_in_the_query_string_is_refused(guarded, issuer):
    response = guarded(query=f"access_token={issuer.mint(RESOURCE, scope='files:read')}")
    assert response.status_code == 400
    challenge = challenge_of(response)
    assert challenge["error"] == "invalid_request" and "Authorization header" in challenge["error_description"]


def test_a_non_bearer_scheme_gets_the_plain_challenge(guarded):
    response = guarded(headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401 and "error" not in challenge_of(response)


def test_a_tool_needing_a_missing_scope_gets_403_with_every_needed_scope(guarded, issuer):
    token = issuer.mint(RESOURCE, scope="files:read")
    assert guarded(token=token, body=tools_call("read_file")).status_code == 200
    response = guarded(token=token, body=tools_call("delete_file"))
    assert response.status_code == 403
    challenge = challenge_of(response)
    assert challenge["error"] == "insufficient_scope"
    assert challenge["scope"] == "files:read files:admin"
    assert challenge["resource_metadata"] == "https://files.example/.well-known/oauth-protected-resource/mcp"
    stepped_up = issuer.mint(RESOURCE, scope="files:read files:admin")
    assert guarded(token=stepped_up, body=tools_call("delete_file")).status_code == 200


def test_a_batch_needs_the_scopes_of_every_call_in_it(guarded, issuer):
    token = issuer.mint(RESOURCE, scope="files:read")
    response = guarded(token=token, body=[tools_call("read_file", 1), tools_call("delete_file", 2)])
    assert response.status_code == 403 and challenge_of(response)["scope"] == "files:read files:admin"


def test_a_tool_the_registry_does_not_list_is_refused_by_default(guarded, issuer):
    """A valid token with every scope still cannot call a tool no admin described (no scope was chosen for
    it): 403 unknown_tool, alone or hidden in a batch beside a listed one, and no step-up challenge."""
    token = issuer.mint(RESOURCE, scope="files:read files:admin")
    for body in (tools_call("shell_exec"), [tools_call("read_file", 1), tools_call("shell_exec", 2)],
                 {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"arguments": {}}}):
        response = guarded(token=token, body=body)
        assert response.status_code == 403, body
        assert response.json()["error"] == "unknown_tool"
        assert "www-authenticate" not in response.headers
    assert guarded(token=token, body=tools_call("read_file")).status_code == 200
    # Other JSON-RPC methods are not tool calls: tools/list still answers.
    assert guarded(token=token, body={"jsonrpc": "2.0", "id": 4, "method": "tools/list"}).status_code == 200


def test_unknown_tools_allow_lets_a_valid_token_call_unlisted_tools_but_keeps_listed_scopes(config, issuer):
    guarded = guard_caller(config, unknown_tools="allow")
    token = issuer.mint(RESOURCE, scope="files:read")
    assert guarded(token=token, body=tools_call("shell_exec")).status_code == 200
    assert guarded(token=token, body=tools_call("delete_file")).status_code == 403  # listed: its scopes hold


def test_a_resource_listing_no_tools_has_no_per_tool_checks(issuer):
    """Backward compatible: a server not yet described in the registry keeps answering every valid token."""
    bare = ResourceConfig.build(resource=RESOURCE, issuer=issuer.issuer, scopes=["files:read"])
    token = issuer.mint(RESOURCE, scope="files:read")
    assert guard_caller(bare)(token=token, body=tools_call("anything")).status_code == 200


def test_the_gateway_and_its_command_take_the_unknown_tools_mode(config):
    from mcp_guard.cli import _parser
    from mcp_guard.gateway import gateway_app

    assert gateway_app(config, "http://127.0.0.1:9/mcp").unknown_tools == "refuse"
    assert gateway_app(config, "http://127.0.0.1:9/mcp", unknown_tools="allow").unknown_tools == "allow"
    base = ["gateway", "--resource", RESOURCE, "--upstream", "http://127.0.0.1:9/mcp"]
    assert _parser().parse_args(base).unknown_tools == "refuse"
    assert _parser().parse_args([*base, "--unknown-tools", "allow"]).unknown_tools == "allow"
    with pytest.raises(SystemExit):
        _parser().parse_args([*base, "--unknown-tools", "deny"])


def test_unknown_tools_rejects_a_misspelt_mode(config):
    from mcp_guard import GuardError

    with pytest.raises(GuardError, match="unknown_tools"):
        GuardMiddleware(echo_app, config=config, unknown_tools="deny")


def test_the_prm_is_served_at_the_well_known_path_without_the_tool_map(issuer):
    document = {"resource": RESOURCE, "authorization_servers": [issuer.issuer], "scopes_supported": ["files:read"],
                "bearer_methods_supported": ["header"], "mcp_tool_scopes": {"read_file": ["files:read"]}}
    config = ResourceConfig.from_document(document)
    assert config.tool_scopes == {"read_file": ("files:read",)}
    app = GuardMiddleware(echo_app, config=config)

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://files.example") as c:
            return await c.get("/.well-known/oauth-protected-resource/mcp")
    response = run(go())
    assert response.status_code == 200 and "mcp_tool_scopes" not in response.json()
    assert response.json()["resource"] == RESOURCE and response.headers["cache-control"].startswith("public")


def test_a_token_of_another_issuer_for_this_resource_is_refused(document_server, config, guarded):
    other = LocalIssuer(document_server, slug="other")  # another tenant: its own keys, its own issuer
    response = guarded(token=other.mint(RESOURCE, scope="files:read"))
    assert response.status_code == 401 and challenge_of(response)["error"] == "invalid_token"


def test_an_unreachable_issuer_is_a_503_not_a_500(config):
    config.issuer = "http://127.0.0.1:9/t/nowhere"
    app = GuardMiddleware(echo_app, config=config)

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://files.example") as c:
            return await c.post("/mcp", headers={"Authorization": "Bearer " + _unsigned(
                {"alg": "RS256", "typ": "at+jwt", "kid": "k"}, {}) + ".c2ln"})
    assert run(go()).status_code == 503


def test_verifier_refuses_symmetric_algorithms_in_its_allow_list():
    from mcp_guard import GuardError

    with pytest.raises(GuardError, match="HS256"):
        TokenVerifier(issuer="https://as.example", resource=RESOURCE, algorithms=["RS256", "HS256"])


def test_introspection_mode_caches_for_seconds_and_then_sees_revocation(issuer, document_server):
    introspect = "/t/local/introspect"
    now = int(time.time())
    document_server.put(introspect, {"active": True, "iss": issuer.issuer, "aud": RESOURCE, "scope": "files:read",
                                     "sub": "user-1", "client_id": "c", "exp": now + 300})
    verifier = IntrospectionVerifier(issuer=issuer.issuer, resource=RESOURCE, client_id="rs", client_secret="s",
                                     cache_seconds=0.5)

    async def go():
        first = await verifier.verify("opaque-token-1")
        await verifier.verify("opaque-token-1")
        calls_cached = verifier.introspections
        document_server.put(introspect, {"active": False})  # revoked at the issuer
        await asyncio.sleep(0.6)
        with pytest.raises(TokenError, match="not active"):
            await verifier.verify("opaque-token-1")
        return first, calls_cached

    first, calls_cached = run(go())
    assert first.scopes == {"files:read"} and calls_cached == 1
    assert b"token=opaque-token-1" in document_server.posted[0]


def test_introspection_of_a_token_for_another_resource_is_inactive(issuer, document_server):
    document_server.put("/t/local/introspect", {"active": True, "iss": issuer.issuer, "aud": "https://x.example/mcp"})
    verifier = IntrospectionVerifier(issuer=issuer.issuer, resource=RESOURCE, client_id="rs", client_secret="s")
    with pytest.raises(TokenError):
        run(verifier.verify("opaque"))


def test_jwt_library_contract_public_key_cannot_be_used_as_hmac_secret(issuer):
    # The reason the allow-list alone is not our only wall: PyJWT itself refuses PEM keys as HMAC secrets.
    pem = issuer.keys["rsa-1"][1].public_key().public_bytes(serialization.Encoding.PEM,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(jwt.InvalidKeyError):
        jwt.encode({"a": 1}, pem, algorithm="HS256")


@pytest.mark.parametrize("skew, accepted", [(20, True), (-20, True), (90, False), (-90, False)])
def test_a_resource_server_clock_skewed_within_the_leeway_accepts_and_beyond_refuses(guarded, issuer, skew,
                                                                                      accepted):
    """The issuer's clock runs `skew` seconds ahead of (positive) or behind the resource server's: tokens
    just minted there look issued in the future or already expired here. 30 s of leeway absorbs the first
    and not the second."""
    now = int(time.time()) + skew
    lifetime = 60
    claims = {"iat": now, "nbf": now, "exp": now + lifetime} if skew > 0 else {"iat": now - lifetime,
                                                                             "exp": now}
    response = guarded(token=issuer.mint(RESOURCE, scope="files:read", **claims))
    assert (response.status_code == 200) is accepted, response.text


@pytest.mark.parametrize("kid", ["../../../etc/passwd", "https://evil.example/jwks.json", "rsa-1' OR '1'='1",
                                 "rsa-1\u0000", "x" * 4000, ""])
def test_kid_injection_is_an_unknown_key_not_a_lookup(guarded, issuer, kid):
    """The kid only ever selects among the keys of the issuer's own JWKS: paths, URLs, quotes, NUL and huge
    values are unknown keys (401), never a file, a fetch or a 500; the only request is the issuer's JWKS."""
    assert guarded(token=issuer.mint(RESOURCE)).status_code == 200
    fetched = issuer.jwks_hits
    response = guarded(token=issuer.mint(RESOURCE, headers={"kid": kid}))
    assert response.status_code == 401 and challenge_of(response)["error"] == "invalid_token"
    assert issuer.jwks_hits <= fetched + 1  # at most the one unknown-kid refresh, of the issuer's own JWKS
