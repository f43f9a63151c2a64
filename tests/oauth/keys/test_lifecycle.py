"""The key lifecycle engine (oauth/signing/rotation.py) step by step, with the clock moved by hand."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from oauth.errors import OAuthServiceError
from oauth.models import AccessToken, KeyState, SigningKey
from oauth.signing import keys, rotation
from tests.factories import ACTOR

from .helpers import insert_tokens

pytestmark = pytest.mark.embedded  # also on SQLite without Redis (test.sh's embedded lane)


def states(tenant) -> dict:
    return {k.kid: k.state for k in SigningKey.objects.for_tenant(tenant)}


def published(tenant) -> set:
    return {k["kid"] for k in keys.jwks(tenant)["keys"]}


@pytest.fixture
def fast_policy(setup, monkeypatch):
    monkeypatch.setattr(keys, "JWKS_MAX_AGE", 10)
    return rotation.rotation_policy_update(tenant=setup.tenant, actor=ACTOR, rotation_interval=100, lead_time=10,
                                           removal_grace=5)


@pytest.mark.django_db
def test_lead_time_shorter_than_the_jwks_cache_lifetime_is_refused(setup):
    with pytest.raises(OAuthServiceError, match="JWKS cache lifetime"):
        rotation.rotation_policy_update(tenant=setup.tenant, actor=ACTOR, lead_time=keys.JWKS_MAX_AGE - 1)
    with pytest.raises(OAuthServiceError, match="longer than lead_time"):
        rotation.rotation_policy_update(tenant=setup.tenant, actor=ACTOR, rotation_interval=600, lead_time=600)


@pytest.mark.django_db
def test_next_key_is_published_lead_time_before_it_signs_then_promoted(setup, fast_policy):
    tenant = setup.tenant
    first = rotation.active_key_of(tenant)
    t0 = first.activated_at
    assert not rotation.rotation_step(tenant=tenant, now=t0 + timedelta(seconds=50)).changed
    step = rotation.rotation_step(tenant=tenant, now=t0 + timedelta(seconds=95))  # 100 - lead 10 <= 95
    assert len(step.created) == 1 and not step.rotated
    successor = step.created[0]
    assert successor in published(tenant) and rotation.active_key_of(tenant).kid == first.kid
    # Due, but the successor has not been published for lead_time yet: rotation waits for it.
    made = SigningKey.objects.get(kid=successor).created_at
    assert not rotation.rotation_step(tenant=tenant, now=made + timedelta(seconds=9)).rotated
    step = rotation.rotation_step(tenant=tenant, now=max(made + timedelta(seconds=10), t0 + timedelta(seconds=100)))
    assert step.rotated == [successor]
    assert states(tenant)[first.kid] == KeyState.RETIRED and states(tenant)[successor] == KeyState.ACTIVE
    assert [s for s in states(tenant).values()].count(KeyState.NEXT) == 1  # the one after is published already
    assert rotation.due_tenant_ids(now=timezone.now()) == []  # the retired key waits for its grace period
    assert rotation.due_tenant_ids(now=timezone.now() + timedelta(seconds=6)) == [tenant.pk]  # then it goes


@pytest.mark.django_db
def test_retired_key_leaves_the_jwks_only_after_its_last_token_expired(setup, fast_policy):
    tenant = setup.tenant
    old = rotation.active_key_of(tenant)
    insert_tokens(tenant=tenant, client=setup.agent, count=3, prefix="old", kid=old.kid, lifetime=60)
    rotation.key_rotate_now(tenant=tenant, actor=ACTOR, expected_kid=old.kid)
    last = AccessToken.objects.filter(kid=old.kid).latest("expires").expires
    assert not rotation.rotation_step(tenant=tenant, now=last + timedelta(seconds=4)).removed  # grace is 5 s
    assert old.kid in published(tenant)
    assert rotation.rotation_step(tenant=tenant, now=last + timedelta(seconds=5)).removed == [old.kid]
    assert old.kid not in published(tenant) and states(tenant)[old.kid] == KeyState.REMOVED
    assert not rotation.rotation_step(tenant=tenant, now=last + timedelta(seconds=6)).changed  # idempotent


@pytest.mark.django_db(transaction=True)
def test_two_rotations_at_once_rotate_once_and_the_loser_is_audited(setup):
    tenant = setup.tenant
    before = rotation.active_key_of(tenant).kid
    results, barrier = [], threading.Barrier(2)

    def rotate():
        try:
            barrier.wait()
            results.append(rotation.key_rotate_now(tenant=tenant, actor=ACTOR, expected_kid=before))
        finally:
            connection.close()

    threads = [threading.Thread(target=rotate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    winners = [r for r in results if r is not None]
    assert len(results) == 2 and len(winners) == 1
    assert rotation.active_key_of(tenant).kid == winners[0].kid != before
    assert SigningKey.objects.for_tenant(tenant).filter(state=KeyState.RETIRED).count() == 1
    skipped = AuditEvent.objects.filter(tenant=tenant, action="key.rotation_skipped").get()
    assert skipped.data["expected_kid"] == before and skipped.data["active_kid"] == winners[0].kid


@pytest.mark.django_db
def test_emergency_rotation_removes_the_key_and_revokes_only_its_tokens(setup):
    tenant = setup.tenant
    compromised = rotation.active_key_of(tenant)
    insert_tokens(tenant=tenant, client=setup.agent, count=50, prefix="bad", kid=compromised.kid)
    insert_tokens(tenant=tenant, client=setup.agent, count=7, prefix="other", kid="some-other-kid")
    result = rotation.key_emergency_rotate(tenant=tenant, actor=ACTOR)
    assert result.compromised == compromised.kid and result.revoked == 50
    assert states(tenant)[compromised.kid] == KeyState.REMOVED and compromised.kid not in published(tenant)
    assert rotation.active_key_of(tenant).kid == result.active.kid != compromised.kid
    assert keys.active_key(tenant)[0] == result.active.kid
    assert AccessToken.objects.filter(tenant=tenant).count() == 7
    event = AuditEvent.objects.filter(tenant=tenant, action="key.emergency_rotated").get()
    assert event.data["tokens_revoked"] == 50 and event.severity == "critical"
    assert rotation.key_emergency_rotate(tenant=tenant, actor=ACTOR, kid=compromised.kid) is None  # already gone


@pytest.mark.django_db
def test_rewrap_moves_every_private_key_to_the_current_kek_and_resumes(setup, make_tenant, settings):
    other = make_tenant("other")
    rotation.key_rotate_now(tenant=other, actor=ACTOR)
    old_kek = settings.PLATFORM_KEK
    settings.PLATFORM_KEK = "v9:" + "A" * 43
    settings.PLATFORM_KEK_PREVIOUS = old_kek
    total = rotation.keys_to_rewrap().count()
    assert total == SigningKey.objects.count() >= 3
    assert rotation.rewrap_keys(batch_size=2) == total
    assert not rotation.keys_to_rewrap().exists() and rotation.rewrap_keys() == 0
    settings.PLATFORM_KEK_PREVIOUS = ""  # the old KEK is gone: keys must decrypt under the new one alone
    keys._private_keys.clear()
    token = keys.sign(setup.tenant, {"iss": setup.tenant.issuer, "sub": "x"}, typ="at+jwt")
    assert keys.verify(setup.tenant, token)["sub"] == "x"
    assert AuditEvent.objects.filter(action="key.rewrapped").count() == total
