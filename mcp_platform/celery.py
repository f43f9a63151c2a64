"""The Celery app. Redis is the broker when REDIS_URL is set; otherwise kombu's filesystem transport
under var/broker (see settings), so the embedded default runs the same tasks and beat schedule."""

import os
from datetime import timedelta

from celery import Celery
from celery.schedules import crontab
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcp_platform.settings")

app = Celery("mcp_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["oauth.registration"])  # a sub-package of the oauth app


def beat_schedule(settings) -> dict:
    """One place for every scheduled job; apps add theirs here as they land.

    Run exactly one beat (`celery -A mcp_platform beat`, or the worker's embedded `-B` in the embedded
    mode). Periodic tasks that must not run twice per period also take a Redis lock for their period
    (oauth.tasks.once_per_period), so a second beat started by mistake only sends duplicates that end
    at once.
    """
    return {
        "scheduler-heartbeat": {
            "task": "jobs.scheduler_heartbeat",
            "schedule": timedelta(seconds=settings.HEARTBEAT_INTERVAL_SECONDS),
        },
        "clear-expired-sessions": {"task": "identity.clear_expired_sessions", "schedule": crontab(minute=17)},
        "audit-stream-events": {"task": "audit.stream_events", "schedule": timedelta(seconds=5)},
        "audit-summarise-failures": {"task": "audit.summarise_failures", "schedule": timedelta(seconds=60)},
        "audit-checkpoint-chains": {"task": "audit.checkpoint_chains", "schedule": crontab(minute=7)},
        "audit-purge-expired-events": {"task": "audit.purge_expired_events", "schedule": crontab(hour=3, minute=23)},
        "expire-unused-registrations": {"task": "oauth.registration.expire_unused", "schedule": crontab(minute=41)},
        # oauth (tasks in oauth/tasks.py; each takes a Redis lock per period, so a second beat is harmless)
        "oauth-rotate-signing-keys": {"task": "oauth.rotate_signing_keys",
                                      "schedule": timedelta(seconds=settings.KEY_ROTATION_CHECK_SECONDS)},
        "oauth-resume-stalled-jobs": {"task": "oauth.resume_stalled_jobs",
                                      "schedule": timedelta(seconds=settings.JOB_LEASE_SECONDS)},
        "oauth-summarise-machine-tokens": {"task": "oauth.summarise_machine_tokens",
                                           "schedule": timedelta(seconds=60)},
        "oauth-purge-expired-tokens": {"task": "oauth.purge_expired_tokens", "schedule": crontab(minute=41)},
        "registry-reverify-resources": {"task": "mcp_registry.reverify_resources",
                                        "schedule": crontab(hour="*/6", minute=29)},
        "tenants-recheck-custom-domains": {"task": "tenants.recheck_custom_domains",
                                           "schedule": timedelta(seconds=settings.CUSTOM_DOMAIN_RECHECK_SECONDS)},
    }


@app.on_after_finalize.connect
def _install_schedule(sender, **kwargs):
    from django.conf import settings

    sender.conf.beat_schedule = beat_schedule(settings)


@setup_logging.connect
def _django_logging(**kwargs):
    """The worker and beat log with settings.LOGGING (JSON lines, like the web workers), not Celery's own
    format: connecting this signal is how Celery is told to leave logging alone."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
