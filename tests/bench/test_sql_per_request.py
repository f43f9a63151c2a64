"""The SQL statements each hot endpoint of the authorization server runs per request: a small exact
number, the same for the first tenant and with many. bench/README.md explains each statement; a change
here is a change of the benchmark's 'SQL/req' column and must be deliberate. The token grants
(client_credentials, authorization_code, refresh) are counted by tests/oauth/test_query_counts.py."""

import pytest

# Statements per warm request (caches filled, as on a server that has been running), transaction
# control not counted. See bench/README.md, "SQL per request", for what each one is.
EXPECTED = {
    "introspection": 1,  # the access token row (tenant and client come from the caches)
    # rendered once per tenant generation (kit/documents.py): no statement until the tenant's config changes
    "jwks": 0,
    "metadata": 0,
}


@pytest.mark.django_db
def test_each_hot_endpoint_runs_its_fixed_number_of_statements(client, scene):
    scene.client_credentials(client)  # warm: the tenant's active key and settings are now cached
    assert scene.count(client) == EXPECTED


@pytest.mark.django_db
def test_statements_per_request_do_not_grow_with_tenants_clients_and_tokens(client, scene, more_tenants):
    scene.client_credentials(client)
    alone = scene.count(client)
    others = more_tenants(3)
    assert scene.count(client) == alone
    assert others[-1].count(client) == alone  # and a tenant created later pays the same
