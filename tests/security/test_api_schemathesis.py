"""Schemathesis against the project's own OpenAPI document: every operation of /api/v1, with generated
bodies, paths and queries, called as a tenant admin's management token. No answer may be a server error
(>= 500), and every refusal must use the structured error format. The example count is bounded so the
run stays in CI's budget (SCHEMATHESIS_EXAMPLES, default 8 per operation)."""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.db import transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

from tests.factories import make_agent, make_resource
from tests.oauth.flows import client_credentials

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "8"))


def _wsgi():
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


@pytest.fixture
def api_schema(admin_token):
    # After admin_token (its test-client request reconnects the handler), as django.test.Client does: the
    # test's transaction must survive each in-process request.
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", _wsgi())
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def admin_token(make_world, client):
    from oauth.models import ADMIN_SCOPES, api_audience

    world = make_world("fuzz")
    make_resource(world.tenant, "https://mcp.fuzz.example/mcp", name="files")
    agent, secret = make_agent(world.tenant, scopes=list(ADMIN_SCOPES), name="Fuzz ops bot")
    answer = client_credentials(client, world.tenant, agent, secret, resource=api_audience())
    assert answer.status_code == 200, answer.content
    return answer.json()["access_token"]


def test_no_api_operation_answers_with_a_server_error(api_schema, admin_token):
    failures, operations = [], 0
    headers = {"Authorization": f"Bearer {admin_token}"}

    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @hypothesis_settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                             suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def probe(case):
            with transaction.atomic():  # each case on its own savepoint: one failure cannot poison the next
                response = case.call(headers=headers)
                transaction.set_rollback(True)
            where = f"{case.method} {case.formatted_path}"
            if response.status_code >= 500:
                failures.append(f"{where}: {response.status_code} {response.text[:300]}")
            elif response.status_code >= 400 and "json" in response.headers.get("Content-Type", [""])[0]:
                body = response.json()
                if not (isinstance(body, dict) and "error" in body):
                    failures.append(f"{where}: {response.status_code} without the structured error: {body}")

        probe()
    assert operations > 50, operations
    assert not failures, "\n".join(sorted(set(failures))[:40])
