import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

import audit
from audit.models import AuditEvent
from audit.selectors import verify_audit
from audit.services import Actor

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
    assert "6 events" in capsys.readouterr().out


def test_events_capture_actor_and_request_context(client, two_tenants, signed_in):
    a, _ = two_tenants
    signed_in(a.owner).post(f"/console/{a.slug}/members/", {"email": "new@alpha.example", "role": "member"},
                            HTTP_USER_AGENT="pytest-agent", HTTP_X_REQUEST_ID="req-123")
    event = AuditEvent.objects.get(tenant=a.tenant, action="membership.added")
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
    raw("DELETE FROM audit_auditevent WHERE chain = %s AND seq = 6", [str(chain.pk)])
    assert "newest rows removed" in first_break(chain).reason


def test_forged_row_is_detected(chain):
    last = AuditEvent.objects.get(tenant=chain, seq=6)
    raw("INSERT INTO audit_auditevent (chain, seq, tenant_id, occurred_at, action, severity, actor_type, actor_id,"
        " actor_label, target_type, target_id, target_label, client_id, resource, user_agent, request_id, data,"
        " prev_hash, hash) VALUES (%s, 7, %s, now(), 'client.created', 'info', 'user', '', 'eve', '', '', '', '', '',"
        " '', '', '{}', %s, %s)",
        [str(chain.pk), chain.pk.hex if connection.vendor == "sqlite" else chain.pk, last.hash, "f" * 64])
    broken = first_break(chain)
    assert broken.seq == 7 and "altered" in broken.reason


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
    assert list(AuditEvent.objects.filter(tenant=a).values_list("seq", flat=True)) == [1, 2]
    assert list(AuditEvent.objects.filter(tenant=b).values_list("seq", flat=True)) == [1, 2]
