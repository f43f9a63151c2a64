"""Hostile input at {issuer}/register: whatever JSON arrives, the answer is 201 or an RFC 7591 error,
never a 5xx (hypothesis generates the metadata)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import set_policy

pytestmark = pytest.mark.django_db

FIELDS = ["redirect_uris", "grant_types", "response_types", "token_endpoint_auth_method", "application_type",
          "client_name", "client_uri", "logo_uri", "scope", "jwks", "jwks_uri", "software_statement", "contacts",
          "software_id", "client_id", "client_secret"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=40),
                    st.sampled_from(["https://a.example/cb", "http://127.0.0.1/cb", "javascript:x", "none",
                                     "client_secret_basic", "private_key_jwt", "code", "authorization_code",
                                     "native", "web", "\x00", "https://[::1]:99999/x", "com.example.app:/cb"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)
documents = st.dictionaries(st.sampled_from(FIELDS), values, max_size=8)
ERRORS = {"invalid_client_metadata", "invalid_redirect_uri", "invalid_software_statement",
          "unapproved_software_statement", "temporarily_unavailable"}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=documents)
def test_no_metadata_makes_the_registration_endpoint_fail(world, registrar, body):
    set_policy(world.tenant, dcr_mode="open", address_rate_per_minute=10_000, tenant_rate_per_minute=100_000)
    response = registrar.register(world.tenant, raw=json.dumps(body, allow_nan=True))
    assert response.status_code < 500, response.content
    if response.status_code != 201:
        assert response.json()["error"] in ERRORS and response.json()["error_description"]
