import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

import audit
from audit.models import AuditEvent
from audit.selectors import verify_audit
from audit.services import Actor
from tests.factories import add_member

pytestmark = pytest.mark.django_db
ACTOR = Actor("test", "", "pytest")


@pytest.fixture
def chain(make_tenant):
    tenant = make_tenant("acme")
    for i in range(5):
        audit.record(tenant, ACTOR, "tenant.updated", ("thing", i, f"thing {i}"), n=i)
    return tenant


def raw(sql, params=()):
    """An attacker with database access: bypasses the ORM and, on PostgreSQL, the append-only trigger."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)


def first_break(tenant):
    (report,) = verify_audit(tenant)
    return report.first_break


def test_untouched_chain_verifies(chain, capsys):
    assert first_break(chain) is None
    call_command("verify_audit", "--tenant", "acme")
    assert f"{AuditEvent.objects.filter(tenant=chain).count()} events" in capsys.readouterr().out


def test_events_capture_actor_and_request_context(client, two_tenants, signed_in):
    a, _ = two_tenants
    signed_in(a.owner).post(f"/console/{a.slug}/members/", {"email": "new@alpha.example", "role": "member"},
                            HTTP_USER_AGENT="pytest-agent", HTTP_X_REQUEST_ID="req-123")
    event = AuditEvent.objects.get(tenant=a.tenant, action="membership.added", request_id="req-123")
    assert (event.actor_type, event.actor_label) == ("user", a.owner.email)
    assert event.ip == "127.0.0.1" and event.user_agent == "pytest-agent" and event.request_id == "req-123"


def test_raw_update_is_named_by_verify_audit(chain):
    target = AuditEvent.objects.get(tenant=chain, seq=3)
    raw("UPDATE audit_auditevent SET actor_label = %s WHERE id = %s", ["mallory", target.pk])
    broken = first_break(chain)
    assert (broken.seq, broken.event_id) == (3, target.pk) and "altered" in broken.reason
    with pytest.raises(CommandError, match="broken"):
        call_command("verify_audit")


def test_deleted_row_is_detected(chain):
    target = AuditEvent.objects.get(tenant=chain, seq=2)
    raw("DELETE FROM audit_auditevent WHERE id = %s", [target.pk])
    broken = first_break(chain)
    assert broken.seq == 2 and "missing" in broken.reason


def test_removed_newest_row_is_detected(chain):
    newest = AuditEvent.objects.filter(tenant=chain).order_by("-seq").first()
    raw("DELETE FROM audit_auditevent WHERE id = %s", [newest.pk])
    assert "newest rows removed" in first_break(chain).reason


def test_forged_row_is_detected(chain):
    last = AuditEvent.objects.filter(tenant=chain).order_by("-seq").first()
    raw("INSERT INTO audit_auditevent (chain, seq, tenant_id, occurred_at, action, severity, actor_type, actor_id,"
        " actor_label, target_type, target_id, target_label, client_id, resource, user_agent, request_id, data,"
        " prev_hash, hash) VALUES (%s, %s, %s, now(), 'client.created', 'info', 'user', '', 'eve', '', '', '', '', '',"
        " '', '', '{}', %s, %s)",
        [str(chain.pk), last.seq + 1, chain.pk.hex if connection.vendor == "sqlite" else chain.pk, last.hash,
         "f" * 64])
    broken = first_break(chain)
    assert broken.seq == last.seq + 1 and "altered" in broken.reason


def test_reordered_rows_are_detected(chain):
    two = AuditEvent.objects.get(tenant=chain, seq=2)
    three = AuditEvent.objects.get(tenant=chain, seq=3)
    raw("UPDATE audit_auditevent SET seq = 1000 WHERE id = %s", [two.pk])
    raw("UPDATE audit_auditevent SET seq = 2 WHERE id = %s", [three.pk])
    raw("UPDATE audit_auditevent SET seq = 3 WHERE id = %s", [two.pk])
    broken = first_break(chain)
    assert broken.seq == 2 and broken.event_id == three.pk


def test_orm_refuses_to_change_events(chain):
    event = AuditEvent.objects.filter(tenant=chain).first()
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(tenant=chain).update(action="x")
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(tenant=chain).delete()


def test_postgresql_trigger_refuses_update_and_delete(chain):
    assert connection.vendor == "postgresql", "the suite runs on PostgreSQL (./test.sh sets DATABASE_URL)"
    for sql in ("UPDATE audit_auditevent SET action = 'x'", "DELETE FROM audit_auditevent"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql)
    assert first_break(chain) is None


def test_chains_are_per_tenant(make_tenant):
    a, b = make_tenant("aaa"), make_tenant("bbb")
    audit.record(a, ACTOR, "tenant.updated")
    audit.record(b, ACTOR, "tenant.updated")
    for tenant in (a, b):
        seqs = list(AuditEvent.objects.filter(tenant=tenant).values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 2


# --- Signed checkpoints and retention ----------------------------------------------------------------

from datetime import timedelta  # noqa: E402

from django.conf import settings as django_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from audit.hashing import event_hash  # noqa: E402
from audit.models import AuditChainHead, AuditCheckpoint  # noqa: E402
from audit.services import audit_settings_update, checkpoint_chain, events_purge  # noqa: E402


@pytest.fixture
def checkpointed(make_tenant, settings):
    settings.AUDIT_CHECKPOINT_EVERY = 4
    settings.AUDIT_RETENTION_MIN_DAYS, settings.AUDIT_RETENTION_CHANGE_DELAY_DAYS = 1, 0
    tenant = make_tenant("acme")  # seq 1: tenant.created (+ whatever other apps record on creation)
    for i in range(10):
        audit.record(tenant, ACTOR, "tenant.updated", ("thing", i, f"thing {i}"), n=i)
    return tenant


def test_a_checkpoint_is_signed_every_n_events_and_verifies(checkpointed):
    seqs = list(AuditCheckpoint.objects.filter(chain=str(checkpointed.pk)).values_list("seq", flat=True))
    assert seqs and all(s % 4 == 0 for s in seqs)
    (report,) = verify_audit(checkpointed)
    assert report.ok and report.checkpoints == len(seqs)


def test_forged_checkpoint_signature_is_detected(checkpointed):
    cp = AuditCheckpoint.objects.filter(chain=str(checkpointed.pk)).first()
    raw("UPDATE audit_auditcheckpoint SET signature = %s WHERE id = %s", ["A" * 86, cp.pk])
    broken = first_break(checkpointed)
    assert broken.seq == cp.seq and "invalid signature" in broken.reason


def test_rewritten_history_with_recomputed_hashes_is_caught_by_the_checkpoint(checkpointed):
    """An attacker who recomputes every hash after altering a row still cannot forge the signature."""
    rows = list(AuditEvent.objects.filter(tenant=checkpointed).order_by("seq"))
    prev = rows[0].hash
    for event in rows[1:]:
        if event.seq == 2:
            event.actor_label = "mallory"
        event.prev_hash = prev
        event.hash = event_hash(event)
        raw("UPDATE audit_auditevent SET actor_label = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [event.actor_label, event.prev_hash, event.hash, event.pk])
        prev = event.hash
    raw("UPDATE audit_auditchainhead SET last_hash = %s WHERE chain = %s", [prev, str(checkpointed.pk)])
    broken = first_break(checkpointed)
    assert broken.seq == 4 and "signed checkpoint" in broken.reason


def test_hourly_checkpoint_signs_the_head_once(checkpointed):
    chain = str(checkpointed.pk)
    first = checkpoint_chain(chain=chain)
    head = AuditChainHead.objects.get(chain=chain)
    assert first.seq == head.last_seq and first.event_hash == head.last_hash
    assert checkpoint_chain(chain=chain).pk == first.pk  # nothing new: no new checkpoint, no new event
    assert verify_audit(checkpointed)[0].ok


@pytest.mark.embedded
def test_retention_drops_old_events_up_to_a_checkpoint_and_the_rest_still_verifies(checkpointed, capsys):
    audit_settings_update(tenant=checkpointed, actor=ACTOR, retention_days=30, actor_is_owner=True)
    newest_checkpoint = AuditCheckpoint.objects.filter(chain=str(checkpointed.pk)).order_by("-seq").first()
    dropped = events_purge(tenant=checkpointed, now=timezone.now() + timedelta(days=31))
    assert dropped == newest_checkpoint.seq
    remaining = AuditEvent.objects.filter(tenant=checkpointed).order_by("seq")
    assert remaining.first().seq == newest_checkpoint.seq + 1
    assert remaining.last().action == "audit.events_purged"
    (report,) = verify_audit(checkpointed)
    assert report.ok and report.from_seq == newest_checkpoint.seq + 1, report.first_break
    call_command("verify_audit", "--tenant", "acme")
    assert "ok" in capsys.readouterr().out


@pytest.mark.embedded
def test_retention_without_a_checkpoint_keeps_everything(make_tenant, settings):
    settings.AUDIT_RETENTION_MIN_DAYS, settings.AUDIT_RETENTION_CHANGE_DELAY_DAYS = 1, 0
    tenant = make_tenant("young")
    audit_settings_update(tenant=tenant, actor=ACTOR, retention_days=1, actor_is_owner=True)
    assert events_purge(tenant=tenant, now=timezone.now() + timedelta(days=5)) == 0


@pytest.mark.embedded
def test_old_rows_deleted_outside_retention_are_detected_even_at_a_checkpoint(checkpointed):
    cp = AuditCheckpoint.objects.filter(chain=str(checkpointed.pk)).order_by("seq").first()
    raw("DELETE FROM audit_auditevent WHERE chain = %s AND seq <= %s", [str(checkpointed.pk), cp.seq])
    broken = first_break(checkpointed)
    assert "without a recorded retention purge" in broken.reason


def test_verify_since_starts_at_the_checkpoint_before_that_time(checkpointed, capsys):
    later = (timezone.now() + timedelta(minutes=1)).isoformat()
    (report,) = verify_audit(checkpointed, since=timezone.now() + timedelta(minutes=1))
    newest = AuditCheckpoint.objects.filter(chain=str(checkpointed.pk)).order_by("-seq").first()
    assert report.ok and report.from_seq == newest.seq + 1
    call_command("verify_audit", "--tenant", "acme", "--since", later)
    assert f"from seq {newest.seq + 1}" in capsys.readouterr().out


def test_postgresql_trigger_lets_only_the_retention_path_delete(chain):
    checkpoint_chain(chain=str(chain.pk))
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL audit.allow_purge = 'on'")
            cursor.execute("UPDATE audit_auditevent SET action = 'x'")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditcheckpoint")


def test_verification_api_reports_the_break(chain, signed_in, make_user):
    auditor = make_user("auditor@acme.example")
    add_member(chain, auditor, "auditor")
    api = signed_in(auditor)
    assert api.get("/api/v1/audit/verification").json()["ok"] is True
    target = AuditEvent.objects.get(tenant=chain, seq=3)
    raw("UPDATE audit_auditevent SET actor_label = 'mallory' WHERE id = %s", [target.pk])
    body = api.get("/api/v1/audit/verification").json()
    assert body["ok"] is False and body["first_break"]["event_id"] == target.pk
    page = api.get("/console/acme/audit/verify/").content.decode()
    assert "altered" in page


def test_ip_addresses_are_truncated_per_tenant_setting(make_tenant):
    from audit.context import RequestContext, bind_request_context, reset_request_context

    tenant = make_tenant("privacy")
    token = bind_request_context(RequestContext(ip="203.0.113.77"))
    try:
        assert audit.record(tenant, ACTOR, "tenant.updated").ip == "203.0.113.77"
        audit_settings_update(tenant=tenant, actor=ACTOR, ip_truncation="network")
        assert audit.record(tenant, ACTOR, "tenant.updated").ip == "203.0.113.0"
        audit_settings_update(tenant=tenant, actor=ACTOR, ip_truncation="drop")
        assert audit.record(tenant, ACTOR, "tenant.updated").ip is None
    finally:
        reset_request_context(token)
    bind = bind_request_context(RequestContext(ip="2001:db8:1234:5678::1"))
    try:
        audit_settings_update(tenant=tenant, actor=ACTOR, ip_truncation="network")
        assert audit.record(tenant, ACTOR, "tenant.updated").ip == "2001:db8:1234::"
    finally:
        reset_request_context(bind)


@pytest.mark.embedded
def test_beat_jobs_checkpoint_every_chain_and_apply_retention(checkpointed, make_tenant):
    from audit import tasks
    from mcp_platform.celery import beat_schedule

    other = make_tenant("other")
    tasks.checkpoint_chains()
    for tenant in (checkpointed, other):
        head = AuditChainHead.objects.get(chain=str(tenant.pk))
        assert AuditCheckpoint.objects.filter(chain=str(tenant.pk), seq=head.last_seq).exists()
    audit_settings_update(tenant=checkpointed, actor=ACTOR, retention_days=1, actor_is_owner=True)
    tasks.purge_expired_events()  # nothing is a day old yet
    assert AuditEvent.objects.filter(tenant=checkpointed, seq=1).exists()
    scheduled = {entry["task"] for entry in beat_schedule(django_settings).values()}
    assert {"audit.stream_events", "audit.checkpoint_chains", "audit.purge_expired_events"} <= scheduled


def test_recording_costs_a_head_lock_an_insert_and_a_head_update(make_tenant, django_assert_num_queries):
    tenant = make_tenant("cheap")
    audit_settings_update(tenant=tenant, actor=ACTOR, ip_truncation="network")  # policy rides on the head row
    with transaction.atomic(), django_assert_num_queries(3):  # no savepoint of its own inside a transaction
        audit.record(tenant, ACTOR, "tenant.updated")


def test_no_checkpoint_vouches_for_rows_altered_since_the_last_one(checkpointed, settings):
    """Rows rewritten (hashes recomputed, head moved) after the newest checkpoint: the hourly job and the
    every-N path both verify the segment first, refuse to sign, and the hourly job raises the alarm."""
    chain = str(checkpointed.pk)
    latest = AuditCheckpoint.objects.filter(chain=chain).order_by("-seq").first()
    while AuditChainHead.objects.get(chain=chain).last_seq < latest.seq + 2:
        audit.record(checkpointed, ACTOR, "tenant.updated")
    rows = list(AuditEvent.objects.filter(tenant=checkpointed, seq__gt=latest.seq).order_by("seq"))
    prev = latest.event_hash
    for event in rows:
        event.actor_label = "mallory"
        event.prev_hash = prev
        event.hash = event_hash(event)
        raw("UPDATE audit_auditevent SET actor_label = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [event.actor_label, event.prev_hash, event.hash, event.pk])
        prev = event.hash
    raw("UPDATE audit_auditevent SET data = '{\"n\": 1000}' WHERE id = %s", [rows[0].pk])  # and one plain edit
    raw("UPDATE audit_auditchainhead SET last_hash = %s WHERE chain = %s", [prev, chain])
    assert checkpoint_chain(chain=chain) is None
    alarm = AuditEvent.objects.get(tenant=checkpointed, action="audit.verification_failed")
    assert alarm.severity == "critical" and alarm.data["seq"] == rows[0].seq
    for _ in range(settings.AUDIT_CHECKPOINT_EVERY):  # the every-N path refuses too
        audit.record(checkpointed, ACTOR, "tenant.updated")
    assert AuditCheckpoint.objects.filter(chain=chain).order_by("-seq").first().pk == latest.pk
