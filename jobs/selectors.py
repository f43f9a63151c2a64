from .models import JobRun


def last_heartbeat() -> JobRun | None:
    return JobRun.objects.filter(name="scheduler.heartbeat", status="succeeded").order_by("-created_at").first()


def jobs_for_tenant(tenant):
    return JobRun.objects.filter(tenant=tenant).order_by("-created_at")
