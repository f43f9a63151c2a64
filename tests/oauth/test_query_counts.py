"""SQL per token request is small and does not grow with tenants, clients or tokens (issue 3, done-when 4)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import make_agent, make_client, make_resource
from tests.oauth.flows import authorize, client_credentials, exchange, refresh

# Budgets (statements incl. savepoints), exact so that a regression fails (bench/README.md "SQL per
# request"). client_credentials: the access-token INSERT only (tenant, client, resource and key come from
# the per-process copies, its audit line from the per-minute summary). authorization_code: the code, the
# token pair, the audit event (head lock, insert, head update), the code's DELETE, BEGIN/COMMIT.
# refresh: the token, the claim UPDATE, the old access token's DELETE, the pair, the audit event.
CLIENT_CREDENTIALS_MAX = 1
AUTHORIZATION_CODE_MAX = 10
REFRESH_MAX = 11


def count(fn):
    with CaptureQueriesContext(connection) as queries:
        response = fn()
    assert response.status_code == 200, response.content
    return len(queries), response


def measure(http, member_http, world, resource, agent, secret, public):
    cc, _ = count(lambda: client_credentials(http, world.tenant, agent, secret, resource=resource.uri))
    auth = authorize(member_http, world.tenant, public, resource=resource.uri)
    code, response = count(lambda: exchange(member_http, world.tenant, public, auth))
    rt, _ = count(lambda: refresh(member_http, world.tenant, public, response.json()["refresh_token"]))
    return cc, code, rt


def browser_of(user):
    from django.test import Client

    http = Client()
    http.force_login(user, backend="identity.backends.EmailBackend")
    return http


def grow(make_world, http, n=4):
    """More tenants, each with resources, clients and live tokens of both kinds."""
    for i in range(n):
        other = make_world(f"grow{i}")
        res = make_resource(other.tenant, f"https://mcp.grow{i}.example/mcp", name="g")
        agent, secret = make_agent(other.tenant, resources=[res])
        public, _ = make_client(other.tenant, resources=[res])
        for _ in range(3):
            client_credentials(http, other.tenant, agent, secret, resource=res.uri)
        member = browser_of(other.member)
        exchange(member, other.tenant, public, authorize(member, other.tenant, public, resource=res.uri))


@pytest.mark.django_db
def test_queries_per_token_request_stay_constant_as_the_platform_grows(make_world, world, resource):
    from django.test import Client

    agent, secret = make_agent(world.tenant, resources=[resource])
    public, _ = make_client(world.tenant, resources=[resource])
    member_http = browser_of(world.member)
    http = Client()
    measure(http, member_http, world, resource, agent, secret, public)  # warm the tenant's caches
    before = measure(http, member_http, world, resource, agent, secret, public)
    grow(make_world, http)
    for _ in range(3):  # more clients and tokens in the measured tenant itself
        make_agent(world.tenant, resources=[resource], name="another")
        client_credentials(http, world.tenant, agent, secret, resource=resource.uri)
    after = measure(http, member_http, world, resource, agent, secret, public)
    assert before == after, (before, after)
    cc, code, rt = after
    assert cc <= CLIENT_CREDENTIALS_MAX, cc
    assert code <= AUTHORIZATION_CODE_MAX, code
    assert rt <= REFRESH_MAX, rt
