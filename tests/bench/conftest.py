"""Fixtures for the benchmark guards: one tenant ready for every hot endpoint of the authorization
server, a way to add more tenants that each carry their own clients, resources and tokens, and a counter
of the SQL statements one request runs."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import make_agent, make_client, make_resource
from tests.oauth.flows import authorize, basic, client_credentials, exchange

# Tests run inside a transaction, where each atomic block becomes SAVEPOINT/RELEASE; on a server those
# are BEGIN/COMMIT. Neither is work the endpoint chose to do, so the guards count everything else.
TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "BEGIN", "COMMIT")


def statements(call):
    """(response, the SQL statements one request ran, transaction control left out)."""
    with CaptureQueriesContext(connection) as captured:
        response = call()
    return response, [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL)]


class Scene:
    """A tenant with an MCP resource, an agent (client_credentials), a public client used by a signed-in
    user, and a resource server that introspects."""

    def __init__(self, world):
        tenant = world.tenant
        self.world, self.tenant, self.slug = world, tenant, tenant.slug
        self.user_http = Client()
        self.user_http.force_login(world.member, backend="identity.backends.EmailBackend")
        self.resource = make_resource(tenant, f"https://mcp.{tenant.slug}.example/mcp", name="files")
        self.agent, self.agent_secret = make_agent(tenant, resources=[self.resource])
        self.public, _ = make_client(tenant, resources=[self.resource], name="MCP client")
        self.rs, self.rs_secret = make_agent(tenant, resources=[self.resource], name="files MCP server")

    def tokens(self) -> dict:
        auth = authorize(self.user_http, self.tenant, self.public, resource=self.resource.uri)
        return exchange(self.user_http, self.tenant, self.public, auth).json()

    def hot_requests(self, http) -> dict:
        """One warm request per hot endpoint that tests/oauth/test_query_counts.py does not already
        count (it owns the three token grants): name -> zero-argument call."""
        for_introspection = self.client_credentials(http).json()["access_token"]
        return {
            "introspection": lambda: http.post(f"/t/{self.slug}/introspect", {"token": for_introspection},
                                               HTTP_AUTHORIZATION=basic(self.rs.client_id, self.rs_secret)),
            "jwks": lambda: http.get(f"/t/{self.slug}/jwks.json"),
            "metadata": lambda: http.get(f"/.well-known/oauth-authorization-server/t/{self.slug}"),
        }

    def client_credentials(self, http):
        return self.client_credentials_with(http)

    def client_credentials_with(self, http, **extra):
        return client_credentials(http, self.tenant, self.agent, self.agent_secret, resource=self.resource.uri,
                                  **extra)

    def count(self, http) -> dict:
        """Statements per warm request of each hot endpoint, each answered 200."""
        counts = {}
        for name, call in self.hot_requests(http).items():
            call()  # warm, as on a server that has been running (these endpoints are idempotent)
            response, sql = statements(call)
            assert response.status_code == 200, (name, response.status_code, response.content[:300])
            counts[name] = len(sql)
        return counts


@pytest.fixture
def scene(make_world):
    return Scene(make_world("bench"))


@pytest.fixture
def more_tenants(make_world):
    """Adds tenants that each have their own resource, clients and live tokens."""

    def add(n: int) -> list[Scene]:
        scenes = [Scene(make_world(f"other{i}")) for i in range(n)]
        for other in scenes:
            other.tokens()
            other.client_credentials(Client())
        return scenes

    return add
