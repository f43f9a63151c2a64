"""The lean protocol path (oauth/lean, mcp_platform/protocol.py) against DOT/oauthlib behind Django, both
through the platform's real ASGI app (mcp_platform.asgi): for a corpus of real machine requests and
hypothesis-generated hostile ones, the same status, error code, headers (all but Date) and claims (all but
jti, iat, nbf, exp and the signature); the corpus's successes are answered by the lean path, everything it
does not answer is Django's; and rate limits count each request once whichever path answers.
"""

from __future__ import annotations

import asyncio
import base64
import json
from urllib.parse import urlencode

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.asgi_calls import call_asgi, recorded_front
from tests.factories import make_agent, make_client, make_resource
from tests.oauth.flows import basic

pytestmark = pytest.mark.django_db(transaction=True)  # both paths' threads read committed rows

VOLATILE_CLAIMS = ("jti", "iat", "nbf", "exp")


@pytest.fixture
def paths(monkeypatch):
    """call(path, headers, body, via) -> (status, headers, body, who answered); via "platform" (the lean
    path in front, as served) or "django" (Django's handler alone, the reference)."""
    from mcp_platform import protocol

    application, django, answered, cleanup = recorded_front(monkeypatch, protocol)

    def call(path, headers, body: bytes, via: str = "platform", chunks: int = 1):
        answered.clear()
        app = application if via == "platform" else django
        status, response_headers, content = asyncio.run(call_asgi(app, "POST", path, headers, body, chunks=chunks))
        return status, response_headers, content, (answered[0] if answered else "lean") if via == "platform" \
            else "django"

    yield call
    cleanup()


@pytest.fixture
def machines(make_tenant, settings):
    """Tenant acme (ES256) with a resource, an agent, a client_secret_post agent, a resource server, a
    public client and a code-only confidential client; tenant bravo with its own agent."""
    from oauth.models import AuthMethod

    settings.TOKEN_RATE_PER_CLIENT = settings.INTROSPECTION_RATE_PER_CALLER = 100_000
    acme = make_tenant("acme")
    files = make_resource(acme, "https://mcp.acme.example/mcp", name="files")
    other = make_resource(acme, "https://other.acme.example/mcp", name="other")
    agent, agent_secret = make_agent(acme, resources=[files])
    poster, poster_secret = make_agent(acme, resources=[files], name="Poster")
    poster.token_endpoint_auth_method = AuthMethod.SECRET_POST
    poster.save()
    rs, rs_secret = make_agent(acme, resources=[files], name="Resource server")
    public, _ = make_client(acme, resources=[files])
    coder, coder_secret = make_client(acme, resources=[files], public=False, grant_types=["authorization_code"],
                                      name="Coder")
    bravo = make_tenant("bravo")
    b_files = make_resource(bravo, "https://mcp.bravo.example/mcp", name="files")
    b_agent, b_secret = make_agent(bravo, resources=[b_files])
    return {"acme": acme, "files": files, "other": other, "agent": (agent, agent_secret),
            "poster": (poster, poster_secret), "rs": (rs, rs_secret), "public": public,
            "coder": (coder, coder_secret), "bravo": bravo, "b_files": b_files, "b_agent": (b_agent, b_secret)}


BASE = {"host": "127.0.0.1:8000", "x-request-id": "lean-diff", "content-type": "application/x-www-form-urlencoded"}


def _normalised(content: bytes, jwks_of):
    """The body with what differs between two correct answers taken out: the token's volatile claims and
    signature (the signature is verified instead)."""
    try:
        body = json.loads(content or b"null")
    except ValueError:
        return content
    if isinstance(body, dict) and isinstance(body.get("access_token"), str):
        token = body.pop("access_token")
        header = jwt.get_unverified_header(token)
        key = next(k for k in jwks_of()["keys"] if k["kid"] == header["kid"])
        claims = jwt.decode(token, jwt.PyJWK(key), algorithms=[key["alg"]], options={"verify_aud": False})
        body["access_token"] = {"header": header, "claims": {k: v for k, v in claims.items()
                                                            if k not in VOLATILE_CLAIMS}}
        assert claims["exp"] - claims["iat"] == body["expires_in"]
    if isinstance(body, dict):
        # An active introspection answer names its token's volatile claims: both paths must name the same
        # ones, but two correct answers about two tokens differ in their values (each path may introspect a
        # token of its own, as the hostile test does).
        for name in VOLATILE_CLAIMS:
            if name in body:
                body[name] = "<present>"
    return body


def _jwks(tenant):
    from oauth.signing import keys

    return lambda: keys.jwks(tenant)


def _assert_same(first, second, tenant, what):
    assert first[0] == second[0], (what, first, second)
    assert _normalised(first[2], _jwks(tenant)) == _normalised(second[2], _jwks(tenant)), what
    assert first[1] == second[1], what


def _issue(paths, tenant, agent, resource, via="django") -> str:
    body = urlencode({"grant_type": "client_credentials", "resource": resource.uri}).encode()
    status, _, content, _ = paths(f"/t/{tenant.slug}/token", {**BASE, "authorization": basic(*agent)}, body, via)
    assert status == 200, content
    return json.loads(content)["access_token"]


def _credentials(m):
    agent, secret = m["agent"][0].client_id, m["agent"][1]
    return agent, secret


def _corpus(m):
    """(path, headers, body, lean expected to answer) as real clients send them, and the refusals beside."""
    acme, files = m["acme"], m["files"]
    agent, secret = m["agent"][0].client_id, m["agent"][1]
    poster, poster_secret = m["poster"][0].client_id, m["poster"][1]
    rs, rs_secret = m["rs"][0].client_id, m["rs"][1]
    auth = {**BASE, "authorization": basic(agent, secret)}
    token_path = f"/t/{acme.slug}/token"
    cc = {"grant_type": "client_credentials"}
    cases = [
        (token_path, auth, {**cc, "resource": files.uri}, True),
        (token_path, auth, {**cc, "resource": files.uri, "scope": "tools:write"}, True),
        (token_path, auth, {**cc, "resource": files.uri, "scope": "tools:read tools:write"}, True),
        (token_path, auth, {**cc, "scope": "tools:read"}, True),  # the one resource defining the scope
        (token_path, auth, cc, True),  # the client's only resource
        (token_path, {**BASE, "authorization": basic(agent, secret).replace("Basic", "Basic ", 1)},
         {**cc, "resource": files.uri}, True),
        (token_path, BASE, {**cc, "resource": files.uri, "client_id": poster, "client_secret": poster_secret}, True),
        (token_path, BASE, {**cc, "resource": files.uri, "client_id": agent, "client_secret": secret}, True),
        # every refusal: Django's
        (token_path, {**BASE, "authorization": basic(agent, secret + "x")}, {**cc, "resource": files.uri}, False),
        (token_path, {**BASE, "authorization": basic("nobody", secret)}, {**cc, "resource": files.uri}, False),
        (token_path, {**BASE, "authorization": basic(m["b_agent"][0].client_id, m["b_agent"][1])},
         {**cc, "resource": files.uri}, False),  # bravo's agent at acme
        (token_path, auth, {**cc, "resource": m["b_files"].uri}, False),  # bravo's resource
        (token_path, auth, {**cc, "resource": "https://unknown.example/mcp"}, False),
        (token_path, auth, {**cc, "resource": m["other"].uri}, False),  # not allowed to this client
        (token_path, auth, {**cc, "resource": "not a uri"}, False),
        (token_path, auth, {**cc, "resource": files.uri, "scope": "nope"}, False),
        (token_path, auth, {**cc, "resource": files.uri, "scope": "a  b"}, False),
        (token_path, auth, {"grant_type": "password", "username": "u", "password": "p"}, False),
        (token_path, auth, {"grant_type": "refresh_token", "refresh_token": "x"}, False),
        (token_path, auth, {"resource": files.uri}, False),
        (token_path, {**BASE, "authorization": basic(m["coder"][0].client_id, m["coder"][1])},
         {**cc, "resource": files.uri}, False),  # unauthorized_client
        (token_path, BASE, {**cc, "resource": files.uri, "client_id": m["public"].client_id}, False),
        (token_path, BASE, {**cc, "resource": files.uri}, False),
        (token_path, {**BASE, "content-type": "application/json"}, {**cc, "resource": files.uri}, False),
        (token_path, {**BASE, "authorization": "Bearer abc"}, {**cc, "resource": files.uri}, False),
        (token_path, {**BASE, "authorization": basic(agent, secret), "dpop": "x.y.z"}, {**cc, "resource": files.uri},
         False),
        (token_path, {**BASE, "authorization": "Basic !!!"}, {**cc, "resource": files.uri}, False),
        ("/t/nobody/token", auth, {**cc, "resource": files.uri}, False),
    ]
    token_value = _issue(m["paths"], acme, (agent, secret), files)
    bravo_token = _issue(m["paths"], m["bravo"], (m["b_agent"][0].client_id, m["b_agent"][1]), m["b_files"])
    rs_auth = {**BASE, "authorization": basic(rs, rs_secret)}
    introspect = f"/t/{acme.slug}/introspect"
    cases += [
        (introspect, rs_auth, {"token": token_value}, True),
        (introspect, rs_auth, {"token": token_value, "token_type_hint": "access_token"}, True),
        (introspect, BASE, {"token": token_value, "client_id": rs, "client_secret": rs_secret}, True),
        (introspect, rs_auth, {"token": token_value, "token_type_hint": "refresh_token"}, False),
        (introspect, rs_auth, {"token": bravo_token}, False),  # another tenant's token: inactive
        (introspect, rs_auth, {"token": "unknown"}, False),
        (introspect, rs_auth, {}, False),
        (introspect, {**BASE, "authorization": basic(rs, "wrong")}, {"token": token_value}, False),
        (introspect, BASE, {"token": token_value}, False),
        (f"/t/{m['bravo'].slug}/introspect", rs_auth, {"token": token_value}, False),
    ]
    return cases


def test_the_lean_path_answers_what_django_answers(paths, machines, settings):
    machines["paths"] = paths
    acme = machines["acme"]
    _issue(paths, acme, _credentials(machines), machines["files"])  # Django has seen acme in this process
    for path, headers, form, lean in _corpus(machines):
        body = urlencode(form).encode()
        *ours, by = paths(path, headers, body)
        *reference, _ = paths(path, headers, body, via="django")
        _assert_same(ours, reference, acme, (path, form, headers.get("authorization")))
        assert by == ("lean" if lean else "django"), (path, form, headers, ours)


def test_a_body_in_chunks_is_read_whole_and_a_large_one_goes_to_django(paths, machines):
    acme, files = machines["acme"], machines["files"]
    _issue(paths, acme, _credentials(machines), files)
    headers = {**BASE, "authorization": basic(*_credentials(machines))}
    body = urlencode({"grant_type": "client_credentials", "resource": files.uri}).encode()
    *ours, by = paths(f"/t/{acme.slug}/token", headers, body, chunks=4)
    assert ours[0] == 200 and by == "lean"
    padded = body + b"&" + urlencode({"scope": "tools:read " * 2000}).encode()
    *ours, by = paths(f"/t/{acme.slug}/token", headers, padded, chunks=8)
    *reference, _ = paths(f"/t/{acme.slug}/token", headers, padded, via="django")
    assert by == "django"
    _assert_same(ours, reference, acme, "large body")


def test_revocation_by_either_path_leaves_the_token_unknown_to_both(paths, machines):
    acme, files = machines["acme"], machines["files"]
    agent = _credentials(machines)
    rs = (machines["rs"][0].client_id, machines["rs"][1])
    answers = []
    for via in ("platform", "django"):
        token = _issue(paths, acme, agent, files, via="platform")
        revoke = urlencode({"token": token}).encode()
        *answer, by = paths(f"/t/{acme.slug}/revoke", {**BASE, "authorization": basic(*agent)}, revoke, via)
        answers.append(answer)
        assert by == ("lean" if via == "platform" else "django")
        for check in ("platform", "django"):
            status, _, content, _ = paths(f"/t/{acme.slug}/introspect", {**BASE, "authorization": basic(*rs)},
                                          urlencode({"token": token}).encode(), check)
            assert (status, json.loads(content)) == (200, {"active": False})
        # a replayed revocation: nothing left to revoke, Django's 200 either way
        *again, _ = paths(f"/t/{acme.slug}/revoke", {**BASE, "authorization": basic(*agent)}, revoke, via)
        _assert_same(again, answer, acme, "replayed revocation")
    _assert_same(answers[0], answers[1], acme, "revocation")
    # another client cannot revoke the agent's token through either path
    token = _issue(paths, acme, agent, files, via="platform")
    for via in ("platform", "django"):
        *answer, by = paths(f"/t/{acme.slug}/revoke", {**BASE, "authorization": basic(*rs)},
                            urlencode({"token": token}).encode(), via)
        assert answer[0] == 200 and by == "django"
    status, _, content, _ = paths(f"/t/{acme.slug}/introspect", {**BASE, "authorization": basic(*rs)},
                                  urlencode({"token": token}).encode())
    assert json.loads(content)["active"] is True


def test_a_revocation_by_the_lean_path_is_audited_like_djangos(paths, machines):
    from audit.models import AuditEvent

    acme, files = machines["acme"], machines["files"]
    agent = _credentials(machines)
    events = []
    for via in ("platform", "django"):
        token = _issue(paths, acme, agent, files)
        paths(f"/t/{acme.slug}/revoke", {**BASE, "authorization": basic(*agent)},
              urlencode({"token": token}).encode(), via)
        event = AuditEvent.objects.filter(tenant=acme, action="token.revoked").order_by("-seq").first()
        events.append((event.actor_type, event.actor_id, event.target_type, event.client_id, event.ip,
                       event.user_agent, event.request_id, sorted(event.data)))
    assert events[0] == events[1]


def test_rate_limits_count_each_request_once_whichever_path_answers(paths, machines, settings):
    acme, files = machines["acme"], machines["files"]
    agent = _credentials(machines)
    _issue(paths, acme, agent, files)
    settings.TOKEN_RATE_PER_CLIENT = 4
    good = urlencode({"grant_type": "client_credentials", "resource": files.uri}).encode()
    bad = urlencode({"grant_type": "client_credentials", "resource": "https://unknown.example/mcp"}).encode()
    sequence = [good, bad, good, bad, good, good]
    statuses = {}
    import redis

    counters = redis.Redis.from_url(settings.REDIS_URL)
    for via in ("platform", "django"):
        for key in counters.scan_iter("oauth:rl:*"):
            counters.delete(key)
        statuses[via] = [paths(f"/t/{acme.slug}/token", {**BASE, "authorization": basic(*agent)}, body, via)[0]
                         for body in sequence]
    assert statuses["platform"] == statuses["django"] == [200, 400, 200, 400, 429, 429]


def test_the_switch_turns_the_lean_path_off(paths, machines, settings):
    acme, files = machines["acme"], machines["files"]
    _issue(paths, acme, _credentials(machines), files)
    body = urlencode({"grant_type": "client_credentials", "resource": files.uri}).encode()
    headers = {**BASE, "authorization": basic(*_credentials(machines))}
    assert paths(f"/t/{acme.slug}/token", headers, body)[3] == "lean"
    settings.LEAN_PROTOCOL_PATH = False
    status, _, _, by = paths(f"/t/{acme.slug}/token", headers, body)
    assert (status, by) == (200, "django")


# --- hostile requests, generated ----------------------------------------------------------------------

_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
_VALUE = st.one_of(_TEXT, st.sampled_from(["", " ", "%00", "\x00", "client_credentials", "tools:read",
                                           "tools:read tools:write", "https://mcp.acme.example/mcp",
                                           "https://mcp.bravo.example/mcp", "access_token", "refresh_token"]))
_NAME = st.sampled_from(["grant_type", "scope", "resource", "client_id", "client_secret", "token",
                         "token_type_hint", "client_assertion", "client_assertion_type", "code", "x"])


@st.composite
def hostile(draw):
    endpoint = draw(st.sampled_from(["token", "introspect", "revoke"]))
    credential = draw(st.sampled_from(["agent", "poster", "rs", "bravo", "public", "coder", "wrong", "garbage",
                                       "lowercase", "bearer", "none", "both"]))
    form = draw(st.lists(st.tuples(_NAME, _VALUE), max_size=6))
    base = {"token": [("token", "TOKEN")], "introspect": [("token", "TOKEN")],
            "revoke": [("token", "TOKEN")]}[endpoint] if draw(st.booleans()) else []
    if endpoint == "token" and draw(st.booleans()):
        base = [("grant_type", "client_credentials"), ("resource", "https://mcp.acme.example/mcp")]
    content_type = draw(st.sampled_from(["application/x-www-form-urlencoded", "application/json", "text/plain",
                                         "application/x-www-form-urlencoded; charset=latin-1", ""]))
    raw = draw(st.one_of(st.none(), st.binary(max_size=40)))
    return endpoint, credential, base + form, content_type, raw


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(case=hostile())
def test_hostile_requests_get_the_same_answer_from_both_paths(paths, machines, case):
    endpoint, credential, form, content_type, raw = case
    machines["paths"] = paths
    acme = machines["acme"]
    agent, rs = _credentials(machines), (machines["rs"][0].client_id, machines["rs"][1])
    _issue(paths, acme, agent, machines["files"])
    auth = {"agent": basic(*agent), "poster": basic(machines["poster"][0].client_id, machines["poster"][1]),
            "rs": basic(*rs), "bravo": basic(machines["b_agent"][0].client_id, machines["b_agent"][1]),
            "public": basic(machines["public"].client_id, ""), "coder": basic(machines["coder"][0].client_id,
                                                                              machines["coder"][1]),
            "wrong": basic(agent[0], "nope"), "garbage": "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
            "lowercase": basic(*agent).replace("Basic", "basic"), "bearer": "Bearer " + agent[1],
            "none": "", "both": basic(*agent)}[credential]
    if credential == "both":
        form = [*form, ("client_id", agent[0]), ("client_secret", agent[1])]
    # each path gets a token of its own, so that a revocation by the first leaves the second one to find
    bodies = []
    for _ in range(2):
        token = _issue(paths, acme, agent, machines["files"])
        bodies.append(raw if raw is not None else urlencode([(k, token if v == "TOKEN" else v) for k, v in form])
                      .encode())
    headers = {**BASE, "content-type": content_type}
    if auth:
        headers["authorization"] = auth
    path = f"/t/{acme.slug}/{endpoint}"
    *ours, _ = paths(path, headers, bodies[0])
    *reference, _ = paths(path, headers, bodies[1], via="django")
    _assert_same(ours, reference, acme, case)
