"""The task layer and the operator commands: a second beat in the same period does nothing, tasks return
early when there is nothing to do, and rotate_keys / revoke_tokens / rewrap_keys work with progress."""

from __future__ import annotations

import io
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from jobs.models import JobRun, JobStatus
from oauth import tasks
from oauth.models import AccessToken, KeyState, SigningKey
from oauth.signing import keys, rotation
from tests.factories import ACTOR, make_agent

from .helpers import insert_tokens

pytestmark = pytest.mark.embedded  # also on SQLite without Redis (test.sh's embedded lane)


def run_command(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_a_second_beat_in_the_same_period_does_not_rotate_again(setup, monkeypatch, settings):
    monkeypatch.setattr(keys, "JWKS_MAX_AGE", 1)
    settings.KEY_ROTATION_CHECK_SECONDS = 3600  # one period for the whole test
    rotation.rotation_policy_update(tenant=setup.tenant, actor=ACTOR, rotation_interval=2, lead_time=1)
    SigningKey.objects.filter(tenant=setup.tenant).update(activated_at=timezone.now() - timedelta(hours=1))
    cache.delete(f"beat-lock:oauth.rotate_signing_keys:{int(time.time() // 3600)}")  # Redis outlives test runs
    tasks.rotate_signing_keys()   # the first beat: the next key is created ahead of time
    tasks.rotate_signing_keys()   # a second beat's duplicate in the same period: skipped
    runs = JobRun.objects.filter(name=rotation.ROTATION_JOB)
    assert runs.count() == 1 and runs.get().result["created"] == 1 and runs.get().status == JobStatus.SUCCEEDED
    assert SigningKey.objects.filter(tenant=setup.tenant, state=KeyState.NEXT).count() == 1


@pytest.mark.django_db
def test_tasks_with_nothing_to_do_leave_no_trace(setup):
    tasks.rewrap_signing_keys()
    tasks.purge_expired_tokens()
    tasks.revoke_tokens("00000000-0000-0000-0000-000000000000")
    assert not JobRun.objects.exclude(name="scheduler.heartbeat").exists()


@pytest.mark.django_db
def test_rotate_keys_command_rotates_one_tenant_or_does_an_emergency(setup, make_tenant):
    other = make_tenant("unrelated")
    before, other_before = rotation.active_key_of(setup.tenant).kid, rotation.active_key_of(other).kid
    out, err = run_command("rotate_keys", "--tenant", setup.tenant.slug)
    assert "rotated the keys of 1 of 1 tenant(s)" in out and "rotating keys [" in err
    assert rotation.active_key_of(setup.tenant).kid != before and rotation.active_key_of(other).kid == other_before
    current = rotation.active_key_of(setup.tenant).kid
    insert_tokens(tenant=setup.tenant, client=setup.agent, count=12, prefix="e", kid=current)
    out, _ = run_command("rotate_keys", "--tenant", setup.tenant.slug, "--emergency")
    assert f"{current} removed" in out and "12 tokens revoked" in out
    with pytest.raises(CommandError, match="no active tenant nope"):
        run_command("rotate_keys", "--tenant", "nope")
    with pytest.raises(CommandError, match="--all-tenants"):
        run_command("rotate_keys", "--emergency")  # no platform-wide emergency by omission
    assert rotation.active_key_of(other).kid == other_before


@pytest.mark.django_db
def test_revoke_tokens_command_revokes_one_client_with_a_progress_bar(setup):
    bystander, _ = make_agent(setup.tenant, resources=[setup.resource], name="bystander")
    insert_tokens(tenant=setup.tenant, client=setup.agent, count=2500, prefix="cmd")
    insert_tokens(tenant=setup.tenant, client=bystander, count=10, prefix="keep")
    out, err = run_command("revoke_tokens", "--tenant", setup.tenant.slug, "--client", setup.agent.client_id,
                           "--batch-size", "1000")
    assert "revoked 2500 token(s)" in out and "2500/2500" in err
    assert AccessToken.objects.filter(tenant=setup.tenant).count() == 10
    with pytest.raises(CommandError, match="has no client 'ghost'"):
        run_command("revoke_tokens", "--tenant", setup.tenant.slug, "--client", "ghost")


@pytest.mark.django_db
def test_rewrap_keys_command_is_resumable_and_says_when_done(setup, settings):
    old = settings.PLATFORM_KEK
    settings.PLATFORM_KEK, settings.PLATFORM_KEK_PREVIOUS = "v7:" + "B" * 43, old
    out, err = run_command("rewrap_keys", "--batch-size", "1")
    assert "re-wrapped" in out and "under KEK v7" in out
    out, _ = run_command("rewrap_keys")
    assert "already under KEK v7" in out
