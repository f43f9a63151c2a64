"""The official MCP Python SDK client completes its authorization at a tenant for a person who signed in
through the tenant's own identity provider (node-oidc-provider), over real HTTP."""

from concurrent.futures import ThreadPoolExecutor

import anyio
import httpx
import pytest

from identity.models import FederatedIdentity
from tenants.models import Membership, Role
from tests.identity.conftest import _follow_idp, new_account
from tests.mcp_registry.conftest import no_persistent_db_connections  # noqa: F401  (serve_asgi needs it)
from tests.oauth.admin.conftest import peering, serve_asgi  # noqa: F401  (fixtures: live tenant, uvicorn)
from tests.oauth.admin.peers import UserAgent, notes_server
from tests.oauth.admin.test_peer_python_sdk import _sdk_session

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_mcp_python_sdk_client_authorizes_as_a_person_signed_in_through_the_tenants_idp(
        peering, serve_asgi, make_idp, oidc_provider):  # noqa: F811
    make_idp(peering.tenant)
    login = new_account(oidc_provider, email="ada@corp.example", groups=["mcp-admins"])
    serve_asgi(notes_server(resource=peering.resource.uri, issuer=peering.tenant.issuer).streamable_http_app(),
               port=peering.port)

    # The person's user agent signs in at the tenant through the IdP (home-realm discovery, then the IdP).
    user = UserAgent(peering.base_url, peering.tenant.slug)
    routed = user.submit(f"/t/{peering.tenant.slug}/login", {"username": "ada@corp.example", "password": ""})
    assert routed.status_code == 302 and "/sso/corp/start" in routed.headers["location"]
    started = user.http.get(routed.headers["location"])
    callback = _follow_idp(httpx.Client(base_url=oidc_provider.issuer), started.headers["location"], login,
                           peering.base_url)
    assert user.http.get(callback).status_code == 302

    # In its own thread: after a browser test, Playwright's sync API keeps an event loop in this one.
    with ThreadPoolExecutor(1) as pool:
        (first, second), redirected = pool.submit(anyio.run, _sdk_session, peering, user).result(timeout=90)

    person = FederatedIdentity.objects.get(subject=login).user
    assert Membership.objects.get(tenant=peering.tenant, user=person).role == Role.ADMIN
    expected = f"{person.pk} via {peering.client.client_id} with notes:read offline_access"
    assert first[:2] == (False, expected) and second[:2] == (False, expected)
    assert user.consent_pages == 1 and len(redirected) == 1
