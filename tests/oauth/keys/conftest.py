"""Area fixtures: restartable Celery workers on an accelerated schedule (optionally with embedded beat) on
their own queue, so a test can SIGKILL one without disturbing the session's shared worker."""

from __future__ import annotations

import pytest

from tests.factories import make_agent, make_resource
from tests.oauth.admin.conftest import estates, session_api, token_api  # noqa: F401  (API callers, two estates)

from .helpers import Setup

FAST_SCHEDULE = {"KEY_ROTATION_CHECK_SECONDS": "1", "JOB_LEASE_SECONDS": "3", "HEARTBEAT_INTERVAL_SECONDS": "3600"}


@pytest.fixture
def worker_factory(celery_worker_factory, settings):
    """Workers on the accelerated schedule (tests/conftest.py celery_worker_factory); the test process
    uses the same job lease."""
    settings.JOB_LEASE_SECONDS = int(FAST_SCHEDULE["JOB_LEASE_SECONDS"])

    def make(*, beat: bool = False, **env):
        return celery_worker_factory(beat=beat, **{**FAST_SCHEDULE, **env})

    return make


@pytest.fixture
def setup(make_tenant) -> Setup:
    """A tenant with one MCP resource, an agent (client_credentials) and the resource server's client."""
    tenant = make_tenant("keys")
    resource = make_resource(tenant, "https://mcp.keys.example/mcp", name="files")
    agent, agent_secret = make_agent(tenant, resources=[resource], name="agent")
    server, server_secret = make_agent(tenant, resources=[resource], name="files server")
    return Setup(tenant, resource, agent, agent_secret, server, server_secret)
