"""/metrics: Prometheus text for operators only (a bearer METRICS_TOKEN), counting requests, tokens
issued by tenant, client and grant type, job runs and durations, and the queue depth."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import make_agent, make_resource
from tests.oauth.flows import client_credentials

pytestmark = pytest.mark.django_db
TOKEN = "metrics-token-for-tests-4f1d9c"


def _value(text: str, name: str, **labels) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_are_absent_without_a_token_and_refused_with_a_wrong_one(settings):
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics").status_code == 404
    settings.METRICS_TOKEN = TOKEN
    refused = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong")
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")


def test_metrics_count_tokens_requests_jobs_and_the_queue(make_world, settings):
    from jobs.models import JobRun

    settings.METRICS_TOKEN = TOKEN
    world = make_world("acme")
    resource = make_resource(world.tenant, "https://mcp.acme.example/mcp", name="files")
    agent, secret = make_agent(world.tenant, resources=[resource], scopes=["tools:read"])
    scrape = lambda: Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()  # noqa: E731
    labels = {"tenant": str(world.tenant.pk), "client": str(agent.pk), "grant_type": "client_credentials"}
    before = scrape()
    for _ in range(2):
        assert client_credentials(Client(), world.tenant, agent, secret, resource=resource.uri).status_code == 200
    now = timezone.now()
    JobRun.objects.create(name="oauth.revoke_tokens", tenant=world.tenant, status="succeeded",
                          started_at=now - timedelta(seconds=42), finished_at=now)
    after = scrape()
    assert _value(after, "mcp_tokens_issued_total", **labels) - _value(before, "mcp_tokens_issued_total", **labels) == 2
    assert _value(after, "mcp_http_requests_total", method="POST", status="200") >= 2
    assert _value(after, "mcp_job_last_duration_seconds", job="oauth.revoke_tokens") == pytest.approx(42, abs=0.01)
    assert _value(after, "mcp_job_runs", job="oauth.revoke_tokens", status="succeeded") >= 1
    assert re.search(r'^mcp_queue_depth\{queue="[^"]+"\} \d', after, re.M)
