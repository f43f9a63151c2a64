"""Audit retention cannot erase history (issue 16, item 11).

The review set retention to 1 day as an admin and the next day's purge removed everything, the record of
the change included. Now: retention is an owner's decision (never a management token's), never below
AUDIT_RETENTION_MIN_DAYS, a shorter retention waits AUDIT_RETENTION_CHANGE_DELAY_DAYS before a purge uses
it, and every purge leaves a signed record (count, first and last hash) that verify_audit requires.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

import audit
from audit.models import AuditCheckpoint, AuditEvent, AuditPurge, AuditTenantSettings
from audit.selectors import verify_audit
from audit.services import Actor, AuditError, audit_settings_update, checkpoint_chain, events_purge
from tests.audit.test_integrity import raw
from tests.factories import make_agent
from tests.oauth.flows import client_credentials

pytestmark = pytest.mark.django_db
ACTOR = Actor("test", "", "pytest")
DAY = timedelta(days=1)


def _fill(tenant, n=10):
    for i in range(n):
        audit.record(tenant, ACTOR, "tenant.updated", ("thing", i, f"thing {i}"), n=i)
    checkpoint_chain(chain=str(tenant.pk))


def _patch(client, body, **headers):
    return client.patch("/api/v1/audit/settings", json.dumps(body), content_type="application/json", **headers)


def test_the_reviews_attack_fails_with_the_default_floor_and_delay(world, signed_in, settings):
    assert (settings.AUDIT_RETENTION_MIN_DAYS, settings.AUDIT_RETENTION_CHANGE_DELAY_DAYS) == (90, 7)
    _fill(world.tenant)
    admin = signed_in(world.admin)
    assert _patch(admin, {"retention_days": 1}).status_code == 400  # an admin: not an owner's decision
    owner = signed_in(world.owner)
    refused = _patch(owner, {"retention_days": 1})
    assert refused.status_code == 400 and "at least 90" in refused.json()["error"]["message"]
    accepted = _patch(owner, {"retention_days": 90})
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["retention_days"] is None and accepted.json()["pending_retention_days"] == 90
    before = AuditEvent.objects.filter(tenant=world.tenant).count()
    assert events_purge(tenant=world.tenant, now=timezone.now() + DAY) == 0  # the next day: nothing goes
    change = AuditEvent.objects.get(tenant=world.tenant, action="audit.settings_changed")
    assert change.data["retention_days"] == 90 and change.data["applies_from"]
    assert AuditEvent.objects.filter(tenant=world.tenant).count() == before


def test_only_an_owners_own_session_changes_retention(world, client, signed_in, settings):
    from oauth.models import ADMIN_SCOPES, api_audience

    settings.AUDIT_RETENTION_MIN_DAYS = 30
    agent, secret = make_agent(world.tenant, scopes=list(ADMIN_SCOPES), name="Ops bot")
    token = client_credentials(client, world.tenant, agent, secret, resource=api_audience()).json()["access_token"]
    by_token = _patch(client, {"retention_days": 30}, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert by_token.status_code == 400 and "owner" in by_token.json()["error"]["message"]
    # IP truncation stays an admin's setting, and saving it does not touch retention.
    assert _patch(signed_in(world.admin), {"ip_truncation": "network"}).status_code == 200
    console = signed_in(world.admin).post(f"/console/{world.slug}/audit/settings/",
                                          {"retention_days": "30", "ip_truncation": "network"})
    assert console.status_code == 400 and "owner" in console.content.decode()
    assert not AuditTenantSettings.objects.get(tenant_id=world.tenant.pk).pending_retention_days
    assert signed_in(world.owner).post(f"/console/{world.slug}/audit/settings/",
                                       {"retention_days": "30", "ip_truncation": "network"}).status_code == 302
    assert AuditTenantSettings.objects.get(tenant_id=world.tenant.pk).pending_retention_days == 30


def test_a_shorter_retention_applies_only_after_the_delay_and_that_is_audited(make_tenant, settings):
    settings.AUDIT_RETENTION_MIN_DAYS, settings.AUDIT_RETENTION_CHANGE_DELAY_DAYS = 2, 3
    tenant = make_tenant("slow")
    _fill(tenant)
    audit_settings_update(tenant=tenant, actor=ACTOR, retention_days=4, actor_is_owner=True)
    assert events_purge(tenant=tenant, now=timezone.now() + 2 * DAY) == 0  # still pending (forever until then)
    assert events_purge(tenant=tenant, now=timezone.now() + 5 * DAY) > 0  # applied: 4 days, events are 5 old
    applied = AuditEvent.objects.get(tenant=tenant, action="audit.retention_applied")
    assert applied.data == {"retention_days": 4, "previous_retention_days": None}
    policy = AuditTenantSettings.objects.get(tenant_id=tenant.pk)
    assert (policy.retention_days, policy.pending_retention_days) == (4, None)


def test_a_longer_retention_applies_at_once_and_cancels_a_pending_shorter_one(make_tenant, settings):
    settings.AUDIT_RETENTION_MIN_DAYS, settings.AUDIT_RETENTION_CHANGE_DELAY_DAYS = 2, 1
    tenant = make_tenant("keep")
    audit_settings_update(tenant=tenant, actor=ACTOR, retention_days=400, actor_is_owner=True)
    assert AuditTenantSettings.objects.get(tenant_id=tenant.pk).pending_retention_days == 400  # forever -> 400
    audit_settings_update(tenant=tenant, actor=ACTOR, retention_days=None, actor_is_owner=True)
    policy = AuditTenantSettings.objects.get(tenant_id=tenant.pk)
    assert (policy.retention_days, policy.pending_retention_days) == (None, None)


def test_the_floor_applies_to_purges_even_under_an_older_shorter_setting(make_tenant, settings):
    settings.AUDIT_RETENTION_MIN_DAYS, settings.AUDIT_RETENTION_CHANGE_DELAY_DAYS = 1, 0
    tenant = make_tenant("floor")
    _fill(tenant)
    audit_settings_update(tenant=tenant, actor=ACTOR, retention_days=1, actor_is_owner=True)
    settings.AUDIT_RETENTION_MIN_DAYS = 30  # the operator raises the floor: old settings cannot undercut it
    assert events_purge(tenant=tenant, now=timezone.now() + 10 * DAY) == 0
    with pytest.raises(AuditError, match="at least 30"):
        audit_settings_update(tenant=tenant, actor=ACTOR, retention_days=5, actor_is_owner=True)


@pytest.fixture
def purged(make_tenant, settings):
    settings.AUDIT_CHECKPOINT_EVERY = 4
    settings.AUDIT_RETENTION_MIN_DAYS, settings.AUDIT_RETENTION_CHANGE_DELAY_DAYS = 1, 0
    tenant = make_tenant("acme")
    _fill(tenant)
    audit_settings_update(tenant=tenant, actor=ACTOR, retention_days=1, actor_is_owner=True)
    dropped = events_purge(tenant=tenant, now=timezone.now() + 2 * DAY)
    assert dropped > 0
    return tenant


def test_a_purge_leaves_a_signed_record_and_the_gap_verifies(purged, capsys):
    (purge,) = AuditPurge.objects.filter(chain=str(purged.pk))
    anchor = AuditCheckpoint.objects.get(chain=str(purged.pk), seq=purge.last_seq)
    assert (purge.first_seq, purge.count, purge.last_hash) == (1, purge.last_seq, anchor.event_hash)
    assert not AuditEvent.objects.filter(tenant=purged, seq__lte=purge.last_seq).exists()
    event = AuditEvent.objects.get(tenant=purged, action="audit.events_purged")
    assert (event.data["dropped"], event.data["first_hash"], event.data["last_hash"]) == (
        purge.count, purge.first_hash, purge.last_hash)
    (report,) = verify_audit(purged)
    assert report.ok, report.first_break
    call_command("verify_audit", "--tenant", "acme")
    assert "ok" in capsys.readouterr().out


def test_a_second_purge_continues_the_signed_records(purged):
    _fill(purged)
    assert events_purge(tenant=purged, now=timezone.now() + 3 * DAY) > 0
    purges = list(AuditPurge.objects.filter(chain=str(purged.pk)).order_by("first_seq"))
    assert len(purges) == 2 and purges[1].first_seq == purges[0].last_seq + 1
    assert verify_audit(purged)[0].ok


@pytest.mark.parametrize("forgery", ["signature", "count", "missing"])
def test_a_forged_or_missing_purge_record_is_detected(purged, forgery):
    purge = AuditPurge.objects.get(chain=str(purged.pk))
    if forgery == "signature":
        raw("UPDATE audit_auditpurge SET signature = %s WHERE id = %s", ["A" * 86, purge.pk])
    elif forgery == "count":
        raw("UPDATE audit_auditpurge SET count = count + 5 WHERE id = %s", [purge.pk])
    else:
        raw("DELETE FROM audit_auditpurge WHERE id = %s", [purge.pk])
    (report,) = verify_audit(purged)
    assert not report.ok
    reason = report.first_break.reason
    assert ("forged" in reason) if forgery != "missing" else ("without a signed purge record" in reason), reason
    with pytest.raises(CommandError, match="broken"):
        call_command("verify_audit", "--tenant", "acme")


def test_purge_records_are_append_only(purged):
    from django.db import DatabaseError, connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's; the ORM refuses everywhere (below)")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditpurge")
    with pytest.raises(TypeError):
        AuditPurge.objects.all().delete()
