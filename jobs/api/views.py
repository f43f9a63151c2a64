"""REST API of the job log: the tenant's background jobs with progress (list, detail) and cancel. It stands
on the tenant API base, as every app's API may; the endpoints that start oauth's jobs are oauth/api/jobs.py.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from tenants.api import strict
from tenants.api.base import TenantEndpoint

from ..models import JobRun, JobStatus
from ..selectors import jobs_for_tenant
from ..services import job_request_cancel


class JobSerializer(strict.ModelSerializer):
    percent = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = JobRun
        fields = ["id", "name", "status", "params", "result", "error", "done", "total", "percent",
                  "cancel_requested", "created_at", "started_at", "finished_at"]
        read_only_fields = fields


@extend_schema(parameters=[OpenApiParameter("id", str, OpenApiParameter.PATH, description="Job id (uuid).")])
class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantEndpoint):
    """The tenant's background jobs with their progress (done/total), newest first."""

    api_area = "jobs"
    serializer_class = JobSerializer
    lookup_value_regex = r"[0-9a-fA-F-]{36}"

    def get_queryset(self):
        qs = jobs_for_tenant(self.tenant).exclude(name="scheduler.heartbeat")
        for field in ("name", "status"):
            if self.request.query_params.get(field):
                qs = qs.filter(**{field: self.request.query_params[field]})
        return qs

    @extend_schema(parameters=[OpenApiParameter("name", str), OpenApiParameter("status", str,
                                                                                enum=JobStatus.values)])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses=JobSerializer,
                   description="Asks a queued or running job to stop after its current batch.")
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        run = self.get_object()
        if run.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
            raise ValidationError({"status": [f"the job is {run.status}; only queued or running jobs can be "
                                              "cancelled"]})
        job_request_cancel(run=run, actor=self.get_actor())
        run.refresh_from_db()
        return Response(JobSerializer(run).data)
