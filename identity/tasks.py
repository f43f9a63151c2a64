from celery import shared_task
from django.core.management import call_command

from jobs.services import job_run

from .people import sessions as people_sessions
from .people import tasks as people_tasks  # noqa: F401  (registers the e-mail tasks with the worker)


@shared_task(name="identity.clear_expired_sessions", acks_late=True, ignore_result=True)
def clear_expired_sessions():
    with job_run("identity.clear_expired_sessions"):
        call_command("clearsessions")
        people_sessions.forget_expired()
