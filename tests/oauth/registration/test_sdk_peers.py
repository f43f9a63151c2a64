"""The official MCP Python SDK client registers itself and completes the flow to a tool call, over real
HTTP against the live server (PostgreSQL), with the peer harness of tests/oauth/admin/peers.py (a signed-in user agent,
an SDK MCPServer whose tokens mcp_guard verifies against the tenant JWKS):

- DCR under ``open``: no stored client info -> the SDK registers at {issuer}/register -> consent -> call;
- DCR under ``approval``: the first attempt lands on the awaiting-approval page; an admin approves through
  the REST API; the second attempt (same stored client) succeeds;
- CIMD: the SDK's ``client_metadata_url`` (https, served by the test with a test CA) is the client_id;
  the platform fetches the document and the flow completes."""

from __future__ import annotations

import anyio
import pytest
from django.test import Client as DjangoClient

from oauth.models import Application, ClientStatus
from oauth.registration.models import ClientRegistration
from tests.mcp_registry.peers import MemoryStorage
from tests.oauth.admin.peers import REDIRECT_URI, UserAgent, query_of

from .conftest import set_policy
from .documents import cimd_document

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class AwaitingApproval(Exception):
    pass


async def _call_whoami(server_url: str, user: UserAgent, storage: MemoryStorage, client_metadata_url=None,
                       held_pages: list | None = None):
    import httpx2
    from mcp.client.auth import OAuthClientProvider
    from mcp.client.client import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

    redirected: list[str] = []

    def follow(url: str) -> str:
        first = user.http.get(url)
        if first.status_code == 403 and "awaiting approval" in first.text:
            held_pages.append(first.text)
            raise AwaitingApproval(url)
        return user.authorize(url)

    async def redirect_handler(url: str) -> None:
        redirected.append(await anyio.to_thread.run_sync(follow, url))

    async def callback_handler() -> AuthorizationCodeResult:
        params = query_of(redirected[-1])
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

    provider = OAuthClientProvider(
        server_url=server_url, storage=storage, redirect_handler=redirect_handler, callback_handler=callback_handler,
        client_metadata=OAuthClientMetadata(redirect_uris=[REDIRECT_URI], grant_types=["authorization_code",
                                            "refresh_token"], token_endpoint_auth_method="none",
                                            client_name="Notes CLI"),
        client_metadata_url=client_metadata_url)
    with anyio.fail_after(30):
        async with httpx2.AsyncClient(auth=provider, timeout=15) as http:
            async with Client(streamable_http_client(server_url, http_client=http)) as client:
                result = await client.call_tool("whoami", {})
    return result.is_error, result.content[0].text


def run_sdk(*args):
    """anyio.run in a thread of its own: Playwright's sync API (the session's browser fixture) keeps an
    event loop running on the main thread once any browser test has run, and anyio refuses to nest."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, *args).result()


def _contains(error: BaseException, kind) -> bool:
    """The SDK's task groups wrap what the redirect handler raised in exception groups."""
    if isinstance(error, kind):
        return True
    return any(_contains(e, kind) for e in getattr(error, "exceptions", ())) or (
        error.__cause__ is not None and _contains(error.__cause__, kind))


def test_sdk_registers_by_dcr_under_open_policy_and_calls_a_tool(mcp_world):
    world, resource, user = mcp_world
    set_policy(world.tenant, dcr_mode="open")
    storage = MemoryStorage()  # no client info: the SDK must register

    is_error, text = run_sdk(_call_whoami, resource.uri, user, storage)

    client_id = storage.client_info.client_id
    assert not is_error and text == f"{world.member.pk} via {client_id} with notes:read offline_access"
    client = Application.objects.unscoped().get(client_id=client_id)
    assert client.tenant == world.tenant and client.registration_source == "dcr" and client.status == "approved"
    assert client.registration.metadata["application_type"] == "native"  # the SDK sends it (SEP-837)
    assert user.consent_pages == 1


def test_sdk_under_approval_waits_then_succeeds_after_an_admin_approves_through_the_api(mcp_world):
    world, resource, user = mcp_world
    storage = MemoryStorage()
    held: list[str] = []

    with pytest.raises(BaseException) as first_attempt:
        run_sdk(_call_whoami, resource.uri, user, storage, None, held)
    assert _contains(first_attempt.value, AwaitingApproval), first_attempt.value
    assert len(held) == 1 and "Notes CLI is awaiting approval" in held[0]
    client_id = storage.client_info.client_id
    registration = ClientRegistration.objects.unscoped().get(application__client_id=client_id)
    assert registration.application.status == ClientStatus.PENDING

    admin = DjangoClient()
    admin.force_login(world.admin, backend="identity.backends.EmailBackend")
    queue = admin.get("/api/v1/registrations?status=pending", HTTP_X_TENANT=world.slug)
    assert [r["client_id"] for r in queue.json()["results"]] == [client_id]
    approved = admin.post(f"/api/v1/registrations/{registration.pk}/approve", {"reason": "known tool"},
                          content_type="application/json", HTTP_X_TENANT=world.slug)
    assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.content

    is_error, text = run_sdk(_call_whoami, resource.uri, user, storage)
    assert not is_error and text.startswith(f"{world.member.pk} via {client_id} with notes:read")
    assert ClientRegistration.objects.unscoped().filter(tenant=world.tenant).count() == 1  # no second DCR


def test_sdk_uses_its_client_id_metadata_document_over_https(mcp_world, https_documents):
    world, resource, user = mcp_world
    set_policy(world.tenant, cimd_mode="open")
    url = https_documents.url + "/oauth/client.json"
    https_documents.put("/oauth/client.json", cimd_document(url), headers={"Cache-Control": "max-age=600"})
    storage = MemoryStorage()

    is_error, text = run_sdk(_call_whoami, resource.uri, user, storage, url)

    assert not is_error and text.startswith(f"{world.member.pk} via ")
    assert storage.client_info.client_id == url  # no DCR: the URL is the client_id
    registration = ClientRegistration.objects.unscoped().get(tenant=world.tenant, cimd_url=url)
    assert registration.source == "cimd" and registration.application.status == "approved"
    assert registration.application.name == "Notes CLI"
    # Cached per Cache-Control: authorize and token resolved the client with one fetch.
    assert https_documents.hits("/oauth/client.json") == 1
    assert not ClientRegistration.objects.unscoped().filter(tenant=world.tenant, source="dcr").exists()
