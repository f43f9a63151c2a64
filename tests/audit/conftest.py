"""Fixtures of the audit tests: a tenant with a varied log, and a killable Celery worker."""

from __future__ import annotations

import pytest

import audit
from audit.services import Actor

ROBOT = Actor("client", "cli-robot", "robot")


@pytest.fixture
def varied_log(two_tenants):
    """Tenant A's log gains events that each filter can single out; tenant B gets look-alikes."""
    a, b = two_tenants
    for world, prefix in ((a, "a"), (b, "b")):
        t = world.tenant
        audit.record(t, world.admin, "client.created", ("oauth.application", f"{prefix}-c1", "Client one"),
                     client_id=f"{prefix}-client-1")
        audit.record(t, ROBOT, "token.issued", ("oauth.application", f"{prefix}-c1", "Client one"),
                     client_id=f"{prefix}-client-1", resource=f"https://{prefix}.example/mcp")
        audit.record(t, world.admin, "resource.created", ("mcp_registry.mcpresource", f"{prefix}-r1", "Files"),
                     resource=f"https://{prefix}.example/mcp")
        audit.record(t, Actor("anonymous", "", "x@evil.example"), "signin.failed", ("identity.user", "", ""))
    return a, b
