"""Issue 16 item 14: the last-owner rule holds under concurrency. Two owners demote each other at the
same moment, each in its own PostgreSQL connection; exactly one demotion wins and the tenant keeps an
owner (before the fix ``select_for_update().count()`` emitted no FOR UPDATE and both won)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from kit.errors import ApplicationError
from tenants import services
from tenants.models import Membership, Role
from tests.factories import ACTOR, add_member


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_demotions_leave_the_tenant_an_owner(make_world, make_user, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers with its database lock")
    world = make_world("race")
    second = add_member(world.tenant, make_user("second-owner@race.example"), Role.OWNER)
    first = Membership.objects.get(tenant=world.tenant, user=world.owner)
    both_checked = threading.Barrier(2, timeout=2)
    original = services._check_not_last_owner

    def check_then_wait(membership, action):
        original(membership, action)
        try:  # hold the transaction open until the other demotion has checked too (if it can)
            both_checked.wait()
        except threading.BrokenBarrierError:
            pass  # the other one is waiting for our row lock: go on and commit

    monkeypatch.setattr(services, "_check_not_last_owner", check_then_wait)
    outcomes = {}

    def demote(membership):
        try:
            services.membership_change_role(membership=Membership.objects.get(pk=membership.pk), role=Role.ADMIN,
                                            actor=ACTOR)
            outcomes[membership.pk] = "demoted"
        except ApplicationError as exc:
            outcomes[membership.pk] = exc.code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=demote, args=(m,)) for m in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes.values()) == ["demoted", "last_owner"]
    assert Membership.objects.filter(tenant=world.tenant, role=Role.OWNER).count() == 1


@pytest.mark.django_db
def test_the_last_owner_check_locks_the_owner_rows(world):
    from django.test.utils import CaptureQueriesContext

    membership = Membership.objects.get(tenant=world.tenant, user=world.owner)
    with CaptureQueriesContext(connection) as queries, pytest.raises(ApplicationError):
        services.membership_change_role(membership=membership, role=Role.ADMIN, actor=ACTOR)
    if connection.vendor == "postgresql":
        assert any("FOR UPDATE" in q["sql"] for q in queries.captured_queries)
