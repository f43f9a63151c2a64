"""Google ADK (``google-adk`` from PyPI, unpatched) as an MCP client of a tenant, end to end over real HTTP.

An ``LlmAgent`` whose ``McpToolset`` reaches an MCP server (official Python SDK, tokens verified by
mcp_guard against the tenant's JWKS, ``aud`` checked) over streamable HTTP, with an OAuth2
authorization-code scheme that names only the issuer (``ExtendedOAuth2.issuer_url``: ADK discovers the
endpoints itself, RFC 8414) and a public client (no secret: ADK sends PKCE S256). ``Runner.run_async``
drives it with a scripted stand-in model (a ``BaseLlm`` that calls the tool, then answers with its result),
so no model service is needed.

What ADK does, read from its source (google/adk/auth/credential_manager.py, auth_handler.py,
oauth2_discovery.py, exchanger/ and refresher/): no Protected Resource Metadata discovery, no ``resource``
parameter and no scope step-up; the scheme's scopes, ``prompt=consent`` and ``access_type=offline`` in the
authorization URL; the end user is asked through an ``adk_request_credential`` function call whose
response carries the redirect back; authlib redeems the code; a token within 60 seconds of expiry is
refreshed before use. Nothing is added to ADK's requests here: the platform's default rule
(oauth/protocol/targets.py) chooses the MCP server from the requested scope.

ADK must not reach Google: the GCE metadata probe is disabled (``NO_GCE_CHECK``) and pointed at a closed
loopback port, and every socket connection of the test is recorded (``sys.addaudithook``) and must go to
loopback."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from audit.models import AuditEvent
from mcp_registry import services as registry
from oauth.models import RefreshToken
from tests.factories import ACTOR

from .peers import REDIRECT_URI, UserAgent, notes_server, query_of

pytestmark = pytest.mark.django_db(transaction=True)

_connections: list | None = None  # socket addresses connected to while a test records them


def _record_connections(event, args):
    if _connections is not None and event == "socket.connect":
        _connections.append(args[1])


_hooked = False


def _watch_connections() -> None:
    """Audit hooks cannot be removed: added once, by the first test that needs it; it records only while
    ``_connections`` is a list."""
    global _hooked
    if not _hooked:
        sys.addaudithook(_record_connections)
        _hooked = True


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.fixture
def no_cloud_metadata(monkeypatch):
    """google-auth's GCE probe off, and aimed at a closed loopback port should anything still ask."""
    port = _closed_port()
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{port}")
    monkeypatch.setenv("GCE_METADATA_IP", f"127.0.0.1:{port}")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "")
    monkeypatch.setenv("ADK_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")


def _scripted_model():
    from google.adk.models.base_llm import BaseLlm
    from google.adk.models.llm_response import LlmResponse
    from google.genai import types

    class ScriptedModel(BaseLlm):
        """Calls the MCP tool ``whoami`` for every user message, then answers with what it returned."""

        model: str = "scripted"
        seen_tools: list = []

        async def generate_content_async(self, llm_request, stream=False):
            self.seen_tools.append(sorted(llm_request.tools_dict))
            last = llm_request.contents[-1]
            results = [p.function_response for p in last.parts or [] if p.function_response]
            if results and results[-1].name == "whoami":
                text = str(results[-1].response)
                yield LlmResponse(content=types.Content(role="model", parts=[types.Part(text=f"tool said: {text}")]))
                return
            yield LlmResponse(content=types.Content(role="model", parts=[
                types.Part(function_call=types.FunctionCall(name="whoami", args={}))]))

    return ScriptedModel()


async def _conversation(peering, user: UserAgent) -> dict:
    """Three turns: the first ends in ADK's credential request, the person signs in and consents, the
    answer resumes the agent (code redeemed, tools listed, tool called); the third turn reuses the stored
    credential, which ADK refreshes first."""
    from fastapi.openapi.models import OAuthFlowAuthorizationCode, OAuthFlows
    from google.adk.agents import LlmAgent
    from google.adk.auth.auth_credential import AuthCredential, AuthCredentialTypes, OAuth2Auth
    from google.adk.auth.auth_schemes import ExtendedOAuth2
    from google.adk.auth.auth_tool import AuthToolArguments
    from google.adk.auth.credential_service.in_memory_credential_service import InMemoryCredentialService
    from google.adk.runners import Runner
    from google.adk.sessions import InMemorySessionService
    from google.adk.tools.mcp_tool import McpToolset, StreamableHTTPConnectionParams
    from google.genai import types

    scheme = ExtendedOAuth2(issuer_url=peering.tenant.issuer, flows=OAuthFlows(
        authorizationCode=OAuthFlowAuthorizationCode(authorizationUrl="", tokenUrl="",
                                                     scopes={"notes:read": "Read your notes"})))
    # credential_key: ADK keys stored credentials by a digest of the scheme unless told a key, and its
    # discovery fills the shared scheme's URLs in, so each turn's McpTool would look under a new key and ask
    # the user again. AuthConfig reads the key from the credential's extra fields (auth/auth_tool.py).
    credential = AuthCredential(auth_type=AuthCredentialTypes.OAUTH2, credential_key="acme-notes", oauth2=OAuth2Auth(
        client_id=peering.client.client_id, redirect_uri=REDIRECT_URI))
    toolset = McpToolset(connection_params=StreamableHTTPConnectionParams(url=peering.server_url),
                         auth_scheme=scheme, auth_credential=credential)
    model = _scripted_model()
    agent = LlmAgent(name="notes_agent", model=model, instruction="Use the notes tools.", tools=[toolset])
    sessions = InMemorySessionService()
    runner = Runner(app_name="notes", agent=agent, session_service=sessions,
                    credential_service=InMemoryCredentialService())
    session = await sessions.create_session(app_name="notes", user_id="person")

    async def turn(message):
        return [event async for event in runner.run_async(user_id="person", session_id=session.id,
                                                          new_message=message)]

    def texts(events):
        return [p.text for e in events for p in (e.content.parts if e.content else []) or [] if p.text]

    first = await turn(types.Content(role="user", parts=[types.Part(text="Who am I?")]))
    requests = [c for e in first for c in e.get_function_calls() if c.name == "adk_request_credential"]
    assert len(requests) == 1, [e.model_dump(exclude_none=True) for e in first]
    asked = AuthToolArguments.model_validate(requests[0].args)
    auth_uri = asked.auth_config.exchanged_auth_credential.oauth2.auth_uri

    back = await asyncio.to_thread(user.authorize, auth_uri)  # the person: sign-in is done, consent here
    answer = asked.auth_config.model_copy(deep=True)
    answer.exchanged_auth_credential.oauth2.auth_response_uri = back
    answer.exchanged_auth_credential.oauth2.redirect_uri = REDIRECT_URI
    second = await turn(types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
        id=requests[0].id, name="adk_request_credential", response=answer.model_dump(exclude_none=True)))]))
    issued_before_third = list(RefreshToken.objects.unscoped().filter(application=peering.client)
                               .values_list("pk", flat=True))
    third = await turn(types.Content(role="user", parts=[types.Part(text="And again?")]))
    await toolset.close()
    return {"auth_uri": auth_uri, "back": back, "second": texts(second), "third": texts(third),
            "tools": model.seen_tools, "refresh_tokens_before_third": issued_before_third,
            "third_calls": [c.name for e in third for c in e.get_function_calls()]}


def _run(coroutine_function, *args):
    """asyncio.run in a thread of its own (the live server and pytest own this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine_function(*args)).result(timeout=90)


def test_google_adk_agent_discovers_authorizes_without_resource_calls_a_tool_and_refreshes(
        peering, serve_asgi, no_cloud_metadata):
    global _connections
    tenant = peering.tenant
    # A second MCP server the client may also use: the resource cannot be "the client's only one", so the
    # requested scope (notes:read, defined by the notes server alone) is what picks it.
    other = registry.resource_create(tenant=tenant, actor=ACTOR, name="calendar",
                                     uri=f"http://127.0.0.1:{peering.free_port()}/mcp",
                                     scopes=[{"name": "calendar:read"}])
    peering.client.allowed_resources.add(other)
    # 60 s tokens: within ADK's 60 s refresh margin at once, so its next use refreshes (no clock tricks).
    registry.resource_update(resource=peering.resource, actor=ACTOR, access_token_lifetime=60)
    serve_asgi(notes_server(resource=peering.resource.uri, issuer=tenant.issuer).streamable_http_app(),
               port=peering.port)
    user = UserAgent(peering.base_url, tenant.slug).sign_in(peering.world.member.email)

    _watch_connections()
    _connections = []
    try:
        seen = _run(_conversation, peering, user)
    finally:
        connected, _connections = _connections, None

    # ADK's own request: discovered endpoints, PKCE, the scheme's scope, and no resource.
    request = query_of(seen["auth_uri"])
    assert seen["auth_uri"].startswith(f"{tenant.issuer}/authorize?")
    assert "resource" not in request and request["scope"] == "notes:read"
    assert request["code_challenge_method"] == "S256" and request["client_id"] == peering.client.client_id
    assert user.consent_pages == 1 and query_of(seen["back"])["iss"] == tenant.issuer

    expected = f"{peering.world.member.pk} via {peering.client.client_id} with notes:read"
    assert any(expected in text for text in seen["second"]), seen["second"]
    assert any(expected in text for text in seen["third"]), (seen["third"], seen["third_calls"])
    assert all(tools == ["whoami"] for tools in seen["tools"]), seen["tools"]  # listed through the toolset

    # The token is for the notes server, chosen by default from the scope, and the audit says so.
    issued = list(AuditEvent.objects.filter(tenant=tenant, action="token.issued").order_by("occurred_at", "seq"))
    grants = [e.data["grant_type"] for e in issued]
    assert grants[0] == "authorization_code" and "refresh_token" in grants[1:]
    assert {e.data["audience"] for e in issued} == {peering.resource.uri}
    assert {e.data["resource_chosen_by"] for e in issued} == {"scopes"}
    consent = AuditEvent.objects.filter(tenant=tenant, action="consent.granted").get()
    assert consent.data["resource_by_default"] is True and consent.data["audience"] == peering.resource.uri

    # ADK refreshed with rotation: every refresh token but the newest was used up, including one that
    # existed before the third turn.
    rows = RefreshToken.objects.unscoped().filter(application=peering.client).order_by("created")
    assert rows.filter(revoked__isnull=True).count() == 1 and rows.count() >= 2
    assert rows.filter(pk__in=seen["refresh_tokens_before_third"], revoked__isnull=False).exists()
    assert rows.last().access_token.audience == peering.resource.uri

    # Nothing but loopback was contacted (no cloud metadata, no model service).
    hosts = {address[0] for address in connected if isinstance(address, tuple)}
    assert hosts and all(ipaddress.ip_address(h).is_loopback for h in hosts), hosts
