"""Thin Celery wrappers over oauth.signing.rotation and oauth.grants.revocation: take ids, re-fetch, return early when
there is nothing to do; ``acks_late`` with retries and backoff; start, finish and failure are audited with
counts by jobs.services.job_run.

Two small Redis mechanisms keep duplicates harmless:
- ``once_per_period``: a periodic task runs once per period even if two beats were started by mistake;
- a lease per revocation run: one worker works on a run at a time, and a run whose worker died (SIGKILL,
  OOM, lost host) is resumed by ``resume_stalled_jobs`` once the lease lapses, rather than waiting for
  the broker's visibility timeout (an hour) to redeliver the message.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import timedelta

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError

from jobs.models import JobRun
from jobs.services import job_run

from .grants import revocation, summaries
from .signing import rotation

log = logging.getLogger(__name__)

RETRY = {"acks_late": True, "autoretry_for": (DatabaseError, ConnectionError), "retry_backoff": True,
         "retry_backoff_max": 300, "retry_jitter": True, "max_retries": 8, "ignore_result": True}


def once_per_period(name: str, period: int) -> bool:
    """True for the first caller in this period (per name), False for every other one."""
    slot = int(time.time() // max(1, period))
    return cache.add(f"beat-lock:{name}:{slot}", f"{socket.gethostname()}:{os.getpid()}", timeout=period * 2)


def _lease_key(run_id) -> str:
    return f"job-lease:{run_id}"


class Lease:
    """A job run's claim by one worker, renewed after each batch; it lapses when the worker dies."""

    def __init__(self, run_id):
        self.key, self.owner = _lease_key(run_id), f"{socket.gethostname()}:{os.getpid()}:{time.monotonic_ns()}"
        self.ttl = settings.JOB_LEASE_SECONDS

    def acquire(self) -> bool:
        return cache.add(self.key, self.owner, timeout=self.ttl)

    def renew(self) -> None:
        cache.set(self.key, self.owner, timeout=self.ttl)

    def release(self) -> None:
        if cache.get(self.key) == self.owner:
            cache.delete(self.key)


@shared_task(name="oauth.rotate_signing_keys", **RETRY)
def rotate_signing_keys():
    """Periodic: one lifecycle step for every tenant that has one due (see oauth/signing/rotation.py)."""
    if not once_per_period("oauth.rotate_signing_keys", settings.KEY_ROTATION_CHECK_SECONDS):
        log.info("key rotation already ran in this period (a second beat?): skipped")
        return
    due = rotation.due_tenant_ids()
    if not due:
        return
    with job_run(rotation.ROTATION_JOB, params={"due_tenants": len(due)}) as job:
        job.progress(0, len(due))
        job.run.result = rotation.rotation_sweep(tenant_ids=due, progress=job.progress)


@shared_task(name=revocation.REVOKE_TASK, **RETRY)
def revoke_tokens(run_id: str):
    """Runs or resumes one revocation job (oauth.grants.revocation.revocation_request queued it)."""
    if not JobRun.objects.filter(pk=run_id, status__in=revocation.RESUMABLE).exists():
        return  # finished, cancelled, or its tenant was deleted while it waited: nothing to do
    lease = Lease(run_id)
    if not lease.acquire():
        log.info("revocation %s is being worked on by another worker", run_id)
        return
    try:
        revocation.revocation_run(run_id=run_id, on_batch=lambda done, total: lease.renew())
    finally:
        lease.release()


def _lease_alive(run_id) -> bool:
    if not settings.REDIS_URL:
        # Embedded mode: leases live in a per-process cache, so another process cannot judge them; the one
        # worker resumes its unfinished runs when it starts instead (below).
        return True
    return cache.get(_lease_key(run_id)) is not None


@shared_task(name="oauth.resume_stalled_jobs", **RETRY)
def resume_stalled_jobs():
    """Periodic: re-sends revocation runs that are queued but were never delivered (broker down at the
    time) or running without a live lease (their worker died)."""
    if not once_per_period("oauth.resume_stalled_jobs", settings.JOB_LEASE_SECONDS):
        return
    for run_id in revocation.revocation_stalled(lease_alive=_lease_alive):
        log.warning("resuming revocation job %s", run_id)
        revocation.send(run_id)


@worker_ready.connect
def _resume_after_restart(sender=None, **kwargs):
    """Embedded mode has exactly one worker: when it starts, nothing of its previous life is running."""
    if settings.REDIS_URL:
        return
    for run_id in revocation.revocation_stalled(lease_alive=lambda pk: False, queued_for=timedelta(0)):
        log.warning("resuming revocation job %s after a restart", run_id)
        revocation.send(run_id)


@shared_task(name="oauth.summarise_machine_tokens", **RETRY)
def summarise_machine_tokens():
    """Periodic: the audit summary of the machine tokens issued in every closed minute (oauth/grants/summaries.py);
    exactly once per minute however often it runs."""
    summaries.summarise_machine_tokens()


@shared_task(name="oauth.purge_expired_tokens", **RETRY)
def purge_expired_tokens():
    if once_per_period("oauth.purge_expired_tokens", 3600):
        revocation.purge_run()


@shared_task(name="oauth.rewrap_signing_keys", **RETRY)
def rewrap_signing_keys():
    """After a KEK rotation: re-wraps every registered encrypted field under the current KEK; resumable."""
    total = rotation.secrets_to_rewrap()
    if not total:
        return
    with job_run(rotation.REWRAP_JOB, params={"kek": rotation.crypto.current_kek_version()}) as job:
        job.progress(0, total)
        job.run.done = rotation.rewrap_keys(progress=job.progress, check_cancelled=job.check_cancelled)
        job.run.result = {"rewrapped": job.run.done}
