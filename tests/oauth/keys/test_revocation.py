"""Bulk revocation jobs (oauth/grants/revocation.py) run in-process: what they revoke, what they leave alone,
progress, cancellation, idempotence, purge."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from jobs.models import JobRun, JobStatus
from jobs.services import job_request_cancel
from oauth.errors import OAuthServiceError
from oauth.grants import revocation
from oauth.models import AccessToken, Grant, RefreshToken
from oauth.protocol.endpoints.introspect import describe
from tests.factories import ACTOR, make_agent

from .helpers import insert_tokens, token_value

pytestmark = pytest.mark.embedded  # also on SQLite without Redis (test.sh's embedded lane)


def live(tenant, **filters) -> int:
    return AccessToken.objects.for_tenant(tenant).filter(**filters).count()


@pytest.fixture
def two_clients(setup):
    other, _ = make_agent(setup.tenant, resources=[setup.resource], name="bystander")
    insert_tokens(tenant=setup.tenant, client=setup.agent, count=1200, prefix="mine")
    insert_tokens(tenant=setup.tenant, client=other, count=300, prefix="theirs")
    return setup.agent, other


@pytest.mark.django_db
def test_revoking_a_client_in_batches_revokes_all_of_it_and_nothing_else(setup, two_clients):
    mine, other = two_clients
    assert describe(setup.tenant, token_value("mine", 7))["active"] is True
    run = revocation.revocation_request(tenant=setup.tenant, actor=ACTOR, client=mine, enqueue=False)
    assert run.status == JobStatus.QUEUED
    assert run.params == {"client": mine.pk, "issued_before": run.params["issued_before"]}
    seen = []
    finished = revocation.revocation_run(run_id=run.pk, batch_size=500, on_batch=lambda d, t: seen.append((d, t)))
    assert finished.status == JobStatus.SUCCEEDED and finished.result == {"revoked": 1200}
    assert seen == [(500, 1200), (1000, 1200), (1200, 1200)]
    assert live(setup.tenant, application=mine) == 0 and live(setup.tenant, application=other) == 300
    assert describe(setup.tenant, token_value("mine", 7)) == {"active": False}
    assert describe(setup.tenant, token_value("theirs", 7))["active"] is True
    assert revocation.revocation_run(run_id=run.pk) is None  # a duplicate delivery does nothing
    actions = list(AuditEvent.objects.filter(tenant=setup.tenant, target_id=str(run.pk)).values_list("action",
                                                                                                  flat=True))
    assert actions == ["tokens.revocation_requested", "job.started", "job.finished"]
    finished_event = AuditEvent.objects.get(tenant=setup.tenant, action="job.finished", target_id=str(run.pk))
    assert finished_event.data["revoked"] == 1200


@pytest.mark.django_db
def test_a_cancelled_revocation_stops_between_batches(setup, two_clients):
    mine, _ = two_clients
    run = revocation.revocation_request(tenant=setup.tenant, actor=ACTOR, client=mine, enqueue=False)

    def cancel_after_first_batch(done, total):
        if done == 500:
            job_request_cancel(run=run, actor=ACTOR)

    finished = revocation.revocation_run(run_id=run.pk, batch_size=500, on_batch=cancel_after_first_batch)
    run.refresh_from_db()
    assert finished.status == run.status == JobStatus.CANCELLED and run.done == 500
    assert live(setup.tenant, application=mine) == 700


@pytest.mark.django_db
def test_revocation_by_user_resource_family_and_key(setup, make_user):
    tenant, agent = setup.tenant, setup.agent
    alice, bob = make_user("alice@keys.example"), make_user("bob@keys.example")
    insert_tokens(tenant=tenant, client=agent, count=5, prefix="alice", user=alice, audience=setup.resource.uri)
    insert_tokens(tenant=tenant, client=agent, count=4, prefix="bob", user=bob, audience="https://elsewhere/mcp",
                  kid="k-old")
    family_token = AccessToken.objects.filter(user=bob).first()
    refresh = RefreshToken.objects.create(tenant=tenant, user=bob, application=agent, access_token=family_token,
                                          token="r1", token_checksum="c" * 64, 
                                          token_family=uuid.uuid4())
    run = revocation.revocation_request(tenant=tenant, actor=ACTOR, user=alice, enqueue=False)
    assert revocation.revocation_run(run_id=run.pk).result == {"revoked": 5}
    assert live(tenant, user=bob) == 4
    run = revocation.revocation_request(tenant=tenant, actor=ACTOR, family=refresh.token_family, enqueue=False)
    assert revocation.revocation_run(run_id=run.pk).result == {"revoked": 2}  # the access token and its refresh token
    refresh.refresh_from_db()
    assert refresh.revoked is not None and live(tenant, user=bob) == 3
    run = revocation.revocation_request(tenant=tenant, actor=ACTOR, kid="k-old", enqueue=False)
    assert revocation.revocation_run(run_id=run.pk).result == {"revoked": 3}
    with pytest.raises(OAuthServiceError, match="name a client"):
        revocation.revocation_request(tenant=tenant, actor=ACTOR, enqueue=False)


@pytest.mark.django_db
def test_another_tenants_client_cannot_be_named(setup, make_tenant):
    stranger = make_tenant("stranger")
    with pytest.raises(OAuthServiceError, match="another tenant"):
        revocation.revocation_request(tenant=stranger, actor=ACTOR, client=setup.agent, enqueue=False)


@pytest.mark.django_db
def test_a_job_whose_run_vanished_while_queued_ends_cleanly(setup, two_clients):
    """Deleting a tenant cascades to its job-log rows (audit events protect tenants from deletion today,
    so the run row disappearing is what a worker would meet); the task must end without touching tokens."""
    from oauth.tasks import revoke_tokens, rotate_signing_keys  # noqa: F401  (the task bodies, run in-process)

    run = revocation.revocation_request(tenant=setup.tenant, actor=ACTOR, everything=True, enqueue=False)
    JobRun.objects.filter(pk=run.pk).delete()
    revoke_tokens(str(run.pk))
    assert revocation.revocation_run(run_id=run.pk) is None
    assert live(setup.tenant) == 1500


@pytest.mark.django_db
def test_purge_drops_expired_rows_but_keeps_a_live_refresh_tokens_pair(setup, make_user):
    tenant, agent = setup.tenant, setup.agent
    person = make_user("purge@keys.example")
    insert_tokens(tenant=tenant, client=agent, count=20, prefix="old", lifetime=-60)
    insert_tokens(tenant=tenant, client=agent, count=5, prefix="new")
    paired = AccessToken.objects.filter(expires__lt=timezone.now()).first()
    RefreshToken.objects.create(tenant=tenant, user=person, application=agent, access_token=paired, token="r",
                                token_checksum="d" * 64)
    Grant.objects.create(application=agent, code="c1", expires=timezone.now() - timedelta(minutes=1), user=person,
                         redirect_uri="http://127.0.0.1/cb", code_challenge="x", code_challenge_method="S256")
    run = revocation.purge_run()
    assert run.status == JobStatus.SUCCEEDED and run.result["access_tokens"] == 19 and run.result["codes"] == 1
    assert live(tenant) == 6 and AccessToken.objects.filter(pk=paired.pk).exists()  # the refresh grant needs it
    assert revocation.purge_run() is None  # nothing left to purge: no job-log row, no audit noise


@pytest.mark.django_db
def test_a_run_that_failed_mid_way_is_resumed_by_its_retry_and_counts_exactly(setup, two_clients):
    from django.db import OperationalError

    mine, _ = two_clients
    run = revocation.revocation_request(tenant=setup.tenant, actor=ACTOR, client=mine, enqueue=False)

    def database_goes_away(done, total):
        raise OperationalError("server closed the connection unexpectedly")

    with pytest.raises(OperationalError):
        revocation.revocation_run(run_id=run.pk, batch_size=500, on_batch=database_goes_away)
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED and run.done == 0  # the failing batch rolled back with its progress
    assert live(setup.tenant, application=mine) == 1200
    finished = revocation.revocation_run(run_id=run.pk, batch_size=500)  # what the task's autoretry does
    assert finished.status == JobStatus.SUCCEEDED and finished.result == {"revoked": 1200}
    assert live(setup.tenant, application=mine) == 0
    starts = AuditEvent.objects.filter(tenant=setup.tenant, action="job.started", target_id=str(run.pk))
    assert [bool(e.data.get("resumed")) for e in starts.order_by("id")] == [False, True]
    assert AuditEvent.objects.filter(tenant=setup.tenant, action="job.failed", target_id=str(run.pk)).exists()
