"""Thin Celery wrappers over the registry's services."""

from celery import shared_task

from audit.services import Actor
from jobs.services import job_run
from kit.tenancy import tenant_context
from tenants.models import TenantStatus

from . import services
from .models import MCPResource, ResourceStatus

REVERIFY_JOB = "mcp_registry.reverify_resources"
JOB_ACTOR = Actor("job", REVERIFY_JOB, "resource verification")


@shared_task(name=REVERIFY_JOB, acks_late=True, ignore_result=True)
def reverify_resources():
    """Periodic: check every active resource again (its published PRM and its own URL), so a server that
    stops naming its tenant's issuer, stops answering (or a gateway path the running server does not route)
    shows as failing in the console. Idempotent: a re-run only re-checks; only changes of outcome are
    audited."""
    ids = list(MCPResource.objects.unscoped()
               .filter(status=ResourceStatus.ACTIVE, tenant__status=TenantStatus.ACTIVE)
               .order_by("pk").values_list("pk", flat=True))
    with job_run(REVERIFY_JOB, params={"resources": len(ids)}) as job:
        failing = 0
        job.progress(0, len(ids))
        for done, pk in enumerate(ids, 1):
            job.check_cancelled()
            resource = MCPResource.objects.unscoped().select_related("tenant").filter(pk=pk).first()
            if resource is not None:  # deleted since the list was taken
                with tenant_context(resource.tenant):
                    resource = services.resource_verify(resource=resource, actor=JOB_ACTOR, record_unchanged=False)
                failing += bool(resource.verification_error)
            job.progress(done, len(ids))
        job.run.result = {"checked": len(ids), "failing": failing}
