"""Streaming to a SIEM: signed webhook deliveries, in order, at least once, with retries, backoff, dead
letter, and a cursor that survives a worker killed mid-delivery."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

import audit
from audit import streaming
from audit.models import AuditEvent, AuditSink, SinkState
from audit.services import Actor, AuditError, sink_create, sink_set_state
from audit.streaming import Outcome

ACTOR = Actor("test", "", "pytest")


def chain_ids(tenant) -> list[int]:
    return list(AuditEvent.objects.filter(tenant=tenant).order_by("seq").values_list("id", flat=True))


def make_sink(tenant, receiver, **kwargs):
    sink, secret = sink_create(tenant=tenant, name="siem", url=receiver.url, actor=ACTOR, from_start=True, **kwargs)
    receiver.secret = secret.encode()
    return sink


@pytest.mark.django_db
def test_sink_urls_must_be_https(make_tenant, settings):
    tenant = make_tenant("acme")
    settings.AUDIT_SINK_ALLOW_HTTP_LOOPBACK = False
    for url in ("http://siem.example/hook", "ftp://siem.example", "http://127.0.0.1:9/hook", "not a url"):
        with pytest.raises(AuditError, match="https://"):
            sink_create(tenant=tenant, name="x", url=url, actor=ACTOR)
    sink, secret = sink_create(tenant=tenant, name="x", url="https://siem.example/hook", actor=ACTOR)
    assert secret not in sink.sealed_secret and len(secret) >= 40
    event = AuditEvent.objects.get(tenant=tenant, action="audit.sink_created")
    assert secret not in str(event.data)


@pytest.mark.django_db
def test_deliveries_are_signed_ordered_and_resume_after_the_cursor(make_tenant, receiver, settings):
    settings.AUDIT_SINK_BATCH = 3
    tenant = make_tenant("acme")
    sink = make_sink(tenant, receiver)
    for i in range(7):
        audit.record(tenant, ACTOR, "tenant.updated", n=i)
    assert streaming.deliver(sink.pk) == Outcome.DELIVERED
    assert receiver.ids() == chain_ids(tenant) and receiver.bad_signatures == 0
    assert all(len(batch) <= 3 for batch in receiver.deliveries)
    audit.record(tenant, ACTOR, "tenant.updated", n=99)
    streaming.deliver(sink.pk)
    assert receiver.ids() == chain_ids(tenant)  # only the new event went out
    sink.refresh_from_db()
    assert sink.cursor_seq == AuditEvent.objects.filter(tenant=tenant).order_by("-seq").first().seq


@pytest.mark.django_db
def test_500_and_timeouts_are_retried_with_backoff_and_nothing_is_dropped(make_tenant, receiver, settings):
    settings.AUDIT_SINK_TIMEOUT_SECONDS = 0.5
    tenant = make_tenant("acme")
    sink = make_sink(tenant, receiver)
    receiver.script = ["500", "hang", "500"]
    now = timezone.now()
    waits = []
    for attempt in (1, 2, 3):
        assert streaming.deliver(sink.pk, now=now) == Outcome.FAILED
        sink.refresh_from_db()
        assert (sink.state, sink.attempts, sink.cursor_seq) == (SinkState.RETRYING, attempt, 0)
        assert ("HTTP 500" if attempt != 2 else "did not give a usable HTTP response") in sink.last_error
        assert streaming.deliver(sink.pk, now=now) == Outcome.WAITING  # backoff: not before next_attempt_at
        assert sink.pk not in streaming.due_sinks(now)
        waits.append(sink.next_attempt_at - now)
        now = sink.next_attempt_at
    assert waits[0] < waits[1] < waits[2]
    assert streaming.deliver(sink.pk, now=now) == Outcome.DELIVERED
    assert sorted(set(receiver.ids())) == chain_ids(tenant)
    sink.refresh_from_db()
    assert (sink.state, sink.attempts, sink.last_error) == (SinkState.ACTIVE, 0, "")


@pytest.mark.django_db
def test_a_sink_that_keeps_failing_is_dead_lettered_visibly_and_resumes_without_loss(two_tenants, receiver,
                                                                                     settings, signed_in):
    settings.AUDIT_SINK_MAX_ATTEMPTS = 2
    a, _ = two_tenants
    sink = make_sink(a.tenant, receiver)
    receiver.script = ["500", "500"]
    streaming.deliver(sink.pk)
    assert streaming.deliver(sink.pk, now=timezone.now() + timedelta(hours=1)) == Outcome.DEAD_LETTERED
    dead = AuditEvent.objects.get(tenant=a.tenant, action="audit.sink_dead_lettered")
    assert dead.severity == "warning" and dead.data["undelivered_from_seq"] == 1
    assert streaming.deliver(sink.pk, now=timezone.now() + timedelta(days=1)) == Outcome.STOPPED
    page = signed_in(a.admin).get(f"/console/{a.slug}/audit/settings/").content.decode()
    assert "Stopped after repeated failures" in page and "HTTP 500" in page
    explorer = signed_in(a.auditor).get(f"/console/{a.slug}/audit/").content.decode()
    assert 'id="dead-letter"' in explorer and "siem" in explorer
    signed_in(a.admin).post(f"/console/{a.slug}/audit/sinks/{sink.pk}/resume")
    sink.refresh_from_db()
    assert sink.state == SinkState.ACTIVE
    assert streaming.deliver(sink.pk) == Outcome.DELIVERED
    assert sorted(set(receiver.ids())) == chain_ids(a.tenant)


@pytest.mark.django_db
def test_console_manages_sinks_and_other_tenants_cannot(two_tenants, receiver, signed_in):
    a, b = two_tenants
    created = signed_in(a.admin).post(f"/console/{a.slug}/audit/settings/", {"name": "splunk", "url": receiver.url})
    assert created.status_code == 200 and "shown once" in created.content.decode()
    sink = AuditSink.objects.get(tenant=a.tenant, name="splunk")
    other = signed_in(b.admin)
    assert other.post(f"/console/{b.slug}/audit/sinks/{sink.pk}/delete").status_code == 404
    assert other.post(f"/console/{a.slug}/audit/sinks/{sink.pk}/delete").status_code == 404
    assert "splunk" not in other.get(f"/console/{b.slug}/audit/settings/").content.decode()
    assert signed_in(a.auditor).post(f"/console/{a.slug}/audit/sinks/{sink.pk}/pause").status_code == 403
    signed_in(a.admin).post(f"/console/{a.slug}/audit/sinks/{sink.pk}/pause")
    sink.refresh_from_db()
    assert sink.state == SinkState.PAUSED and streaming.deliver(sink.pk) == Outcome.STOPPED
    sink_set_state(sink=sink, state=SinkState.ACTIVE, actor=ACTOR)
    signed_in(a.admin).post(f"/console/{a.slug}/audit/sinks/{sink.pk}/delete")
    assert not AuditSink.objects.filter(pk=sink.pk).exists()
    assert AuditEvent.objects.filter(tenant=a.tenant, action="audit.sink_deleted").exists()


def _wait(condition, seconds: float, what: str):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out after {seconds}s waiting for {what}")


def test_every_event_arrives_once_by_id_after_the_worker_is_killed_mid_delivery(make_tenant, receiver,
                                                                                killable_worker):
    from audit.tasks import deliver_sink

    tenant = make_tenant("acme")
    sink = make_sink(tenant, receiver)
    for i in range(12):
        audit.record(tenant, ACTOR, "tenant.updated", n=i)
    expected = chain_ids(tenant)
    receiver.script = ["ok", "block"]  # batch 1 is acknowledged; batch 2 is stored but never acknowledged
    killable_worker.start()
    deliver_sink.apply_async([str(sink.pk)], queue=killable_worker.queue)
    assert receiver.in_flight.wait(30), "the worker never reached the second batch"
    killable_worker.kill()
    receiver.release.set()
    sink.refresh_from_db()
    assert sink.cursor_seq == 5  # batch 1 (5 events, AUDIT_SINK_BATCH=5 in the worker) and no further

    killable_worker.start()
    deliver_sink.apply_async([str(sink.pk)], queue=killable_worker.queue)  # what the beat job does every 5 s
    _wait(lambda: set(receiver.ids()) >= set(expected), 30, "every event at the receiver")

    received = receiver.ids()
    assert sorted(set(received)) == expected  # nothing lost
    duplicates = [i for i in set(received) if received.count(i) > 1]
    assert sorted(duplicates) == expected[5:10]  # only the unacknowledged batch came twice, with the same ids
    by_id = {}
    for batch in receiver.deliveries:
        assert [e["seq"] for e in batch] == sorted(e["seq"] for e in batch)  # in order within a batch
        for e in batch:
            assert by_id.setdefault(e["id"], e) == e  # a duplicate is the same event, byte for byte
    assert receiver.bad_signatures == 0


@pytest.mark.django_db
def test_api_manages_sinks_and_settings_within_the_callers_tenant(two_tenants, signed_in):
    a, b = two_tenants
    api = signed_in(a.admin)
    created = api.post("/api/v1/audit/sinks", {"name": "splunk", "url": "https://siem.example/hook"},
                       content_type="application/json")
    assert created.status_code == 201, created.content
    sink_id, secret = created.json()["id"], created.json()["secret"]
    listed = api.get("/api/v1/audit/sinks").json()
    assert [s["name"] for s in listed] == ["splunk"] and "secret" not in listed[0]
    assert secret not in str(listed)
    assert api.post(f"/api/v1/audit/sinks/{sink_id}/pause").json()["state"] == "paused"
    assert api.post(f"/api/v1/audit/sinks/{sink_id}/resume").json()["state"] == "active"
    bad = api.post("/api/v1/audit/sinks", {"name": "x", "url": "http://siem.example"}, content_type="application/json")
    assert bad.status_code == 400 and "https://" in bad.json()["error"]["fields"]["url"][0]

    assert api.patch("/api/v1/audit/settings", {"retention_days": 90, "ip_truncation": "network"},
                     content_type="application/json").status_code == 400  # retention: owners only
    assert api.patch("/api/v1/audit/settings", {"ip_truncation": "network"},
                     content_type="application/json").json()["ip_truncation"] == "network"
    assert signed_in(a.owner).patch("/api/v1/audit/settings", {"retention_days": 90},
                                    content_type="application/json").json()["pending_retention_days"] == 90
    assert api.patch("/api/v1/audit/settings", {"ip_truncation": "scramble"},
                     content_type="application/json").status_code == 400
    assert signed_in(a.auditor).patch("/api/v1/audit/settings", {"retention_days": 1},
                                      content_type="application/json").status_code == 403

    other = signed_in(b.admin)
    assert other.get("/api/v1/audit/sinks").json() == []
    assert other.get(f"/api/v1/audit/sinks/{sink_id}").status_code == 404
    assert other.post(f"/api/v1/audit/sinks/{sink_id}/pause").status_code == 404
    assert other.delete(f"/api/v1/audit/sinks/{sink_id}").status_code == 404
    assert other.get("/api/v1/audit/settings").json()["retention_days"] is None
    assert other.get("/api/v1/audit/sinks", HTTP_X_TENANT=a.slug).status_code == 404
    assert signed_in(a.admin).delete(f"/api/v1/audit/sinks/{sink_id}").status_code == 204  # same client, A again
