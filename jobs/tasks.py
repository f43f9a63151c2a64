from celery import shared_task

from . import services


@shared_task(name="jobs.scheduler_heartbeat", acks_late=True, ignore_result=True)
def scheduler_heartbeat():
    services.scheduler_heartbeat()
