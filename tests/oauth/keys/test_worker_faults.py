"""Faults with a real Celery worker on Redis: the worker SIGKILLed in the middle of a 100k-token
revocation, and the broker unreachable while tokens are issued and a revocation is requested."""

from __future__ import annotations

import time

import pytest

from audit.models import AuditEvent
from jobs.models import JobRun, JobStatus
from mcp_platform.celery import app
from oauth.grants import revocation
from oauth.models import AccessToken
from tests.factories import ACTOR, make_agent
from tests.oauth.flows import basic, client_credentials

from .helpers import insert_tokens, token_value

pytestmark = pytest.mark.slow

TOKENS = 100_000


def wait_for(condition, *, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def introspect(http, setup, token: str) -> dict:
    return http.post(f"/t/{setup.tenant.slug}/introspect", {"token": token},
                     HTTP_AUTHORIZATION=basic(setup.server.client_id, setup.server_secret)).json()


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_revocation_of_100k_tokens_resumes_and_revokes_exactly_that_client(setup, worker_factory,
                                                                                                client):
    bystander, _ = make_agent(setup.tenant, resources=[setup.resource], name="bystander")
    insert_tokens(tenant=setup.tenant, client=setup.agent, count=TOKENS, prefix="victim")
    insert_tokens(tenant=setup.tenant, client=bystander, count=1000, prefix="bystander")
    worker = worker_factory(beat=True)

    # Small batches, so the kill surely lands mid-way on a fast machine too (100k tokens take ~3 s in 5k batches).
    run = revocation.revocation_request(tenant=setup.tenant, actor=ACTOR, client=setup.agent, batch_size=500)
    wait_for(lambda: JobRun.objects.get(pk=run.pk).done >= 10_000, timeout=60, what="the revocation to get going",
             interval=0.02)
    worker.kill()
    run.refresh_from_db()
    left = AccessToken.objects.filter(application=setup.agent).count()
    assert run.status == JobStatus.RUNNING and 0 < run.done < TOKENS, "the kill must land mid-way"
    assert run.done + left == TOKENS  # progress commits with its batch: exact even after SIGKILL

    worker.start()  # its beat finds the run without a live lease and hands it out again
    wait_for(lambda: JobRun.objects.get(pk=run.pk).status == JobStatus.SUCCEEDED, timeout=90,
             what="the resumed revocation to finish")
    run.refresh_from_db()
    assert run.result == {"revoked": TOKENS} and run.done == run.total == TOKENS
    assert not AccessToken.objects.filter(application=setup.agent).exists()
    assert AccessToken.objects.filter(application=bystander).count() == 1000
    for n in (0, 4321, TOKENS - 1):
        assert introspect(client, setup, token_value("victim", n)) == {"active": False}
    assert introspect(client, setup, token_value("bystander", 5))["active"] is True
    starts = AuditEvent.objects.filter(tenant=setup.tenant, action="job.started", target_id=str(run.pk))
    assert [bool(e.data.get("resumed")) for e in starts.order_by("id")] == [False, True]
    assert AuditEvent.objects.filter(tenant=setup.tenant, action="job.finished", target_id=str(run.pk)).get(
    ).data["revoked"] == TOKENS


@pytest.fixture
def broker_down():
    """Points this process's Celery producer at a closed port (the worker keeps the real Redis)."""
    real = app.conf.broker_url

    def switch(url):
        app.conf.broker_url = url
        app._pool = None  # the producer pools were built for the old URL
        app.amqp._producer_pool = None

    switch("redis://127.0.0.1:1/0")
    yield lambda: switch(real)
    switch(real)


@pytest.mark.django_db(transaction=True)
def test_broker_down_token_issuance_keeps_working_and_the_queued_job_runs_once_redis_is_back(setup, client,
                                                                                           broker_down,
                                                                                           worker_factory):
    response = client_credentials(client, setup.tenant, setup.agent, setup.agent_secret, resource=setup.resource.uri)
    assert response.status_code == 200, response.content
    token = response.json()["access_token"]
    assert introspect(client, setup, token)["active"] is True

    run = revocation.revocation_request(tenant=setup.tenant, actor=ACTOR, client=setup.agent)
    run.refresh_from_db()
    assert run.status == JobStatus.QUEUED and "broker unreachable" in run.error  # loud, visible in the console

    broker_down()  # Redis is reachable again
    worker_factory(beat=True)  # resume_stalled_jobs re-sends runs queued longer than the lease
    wait_for(lambda: JobRun.objects.get(pk=run.pk).status == JobStatus.SUCCEEDED, timeout=30,
             what="the queued revocation to run")
    assert introspect(client, setup, token) == {"active": False}
    assert JobRun.objects.get(pk=run.pk).error == ""
