"""Thin Celery wrappers over the tenants' services."""

from celery import shared_task

from audit.services import Actor
from jobs.services import job_run

from . import services

RECHECK_JOB = "tenants.recheck_custom_domains"
JOB_ACTOR = Actor("job", RECHECK_JOB, "custom domain re-check")


@shared_task(name=RECHECK_JOB, acks_late=True, ignore_result=True)
def recheck_custom_domains():
    """Periodic: look up every verified domain's TXT record again; one that keeps failing stops serving
    (tenants.services.custom_domain_verify). Idempotent: a duplicate run only checks once more."""
    with job_run(RECHECK_JOB) as job:
        job.run.result = services.custom_domains_recheck(actor=JOB_ACTOR)
