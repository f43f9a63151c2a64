from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Background jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from kit import joblog

        from .services import job_run

        joblog.provide(job_run)  # audit's tasks log their runs through kit.joblog (audit cannot import jobs)
