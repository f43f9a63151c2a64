"""Privacy: no secret or raw token ever lands in an audit event, whoever passes it to audit.record."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

import audit
from audit.models import AuditEvent
from audit.services import Actor, sink_create
from oauth.grants import summaries
from tests.factories import PASSWORD, make_agent, make_resource
from tests.oauth.flows import client_credentials

pytestmark = pytest.mark.django_db
ACTOR = Actor("test", "", "pytest")
# Public identifiers that are long and random by design (a JWK thumbprint, a token's jti), not secrets.
PUBLIC_IDENTIFIERS = {"kid", "jti", "client_id", "retired"}
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")


def every_stored_string() -> str:
    """Every event as stored, columns and data, one text to grep."""
    return "\n".join(str(row) for row in AuditEvent.objects.values_list(
        "actor_label", "target_id", "target_label", "client_id", "resource", "user_agent", "request_id", "data"))


def test_a_representative_run_leaves_no_token_or_secret_in_the_log(client, make_world, signed_in, settings):
    settings.AUDIT_SINK_ALLOW_HTTP_LOOPBACK = True
    world = make_world("acme")
    secrets_seen = [PASSWORD]
    resource = make_resource(world.tenant, "https://mcp.acme.example/mcp", name="files")
    agent, secret = make_agent(world.tenant, resources=[resource])
    secrets_seen.append(secret)
    token = client_credentials(client, world.tenant, agent, secret, resource=resource.uri).json()["access_token"]
    secrets_seen.append(token)
    client.post(f"/t/{world.slug}/login", {"username": world.admin.email, "password": "wrong-" + PASSWORD})
    client.post(f"/t/{world.slug}/login", {"username": world.admin.email, "password": PASSWORD})
    _, sink_secret = sink_create(tenant=world.tenant, name="siem", url="https://siem.example/hook", actor=ACTOR)
    secrets_seen.append(sink_secret)
    # A careless caller: credentials under credential names, and a JWT inside free text.
    audit.record(world.tenant, ACTOR, "token.revoked", ("oauth.accesstoken", "1", "token"),
                 access_token=token, client_secret=secret, note=f"revoked {token} on request")
    summaries.summarise_machine_tokens(now=timezone.now() + timedelta(minutes=2))  # the token's audit line
    stored = every_stored_string()
    recorded = set(AuditEvent.objects.filter(tenant=world.tenant).values_list("action", flat=True))
    assert {"client.created", "tokens.issued", "signin.failed", "signin.succeeded", "audit.sink_created"} <= recorded
    assert not JWT.search(stored), "a JWT reached the audit log"
    for value in secrets_seen:
        assert value not in stored, "a secret reached the audit log"
    careless = AuditEvent.objects.filter(action="token.revoked").get()
    assert careless.data == {"access_token": "[redacted]", "client_secret": "[redacted]",
                             "note": "revoked [redacted] on request"}
    # Long random strings (secrets' shape) appear only as hashes and ids we generate, never in data values.
    for data in AuditEvent.objects.values_list("data", flat=True):
        for value in _strings({k: v for k, v in data.items() if k not in PUBLIC_IDENTIFIERS}):
            assert not re.fullmatch(r"[A-Za-z0-9_-]{40,}", value) or re.fullmatch(r"[0-9a-f]{64}", value), (data, value)


def _strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value
