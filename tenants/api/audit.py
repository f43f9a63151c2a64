"""The audit log API: search with filters and cursor pagination, one event, streaming export, and the
verification of the tenant's chain. Lives in tenants/api because it stands on ``TenantEndpoint``;
every query goes through audit.selectors with ``self.tenant``."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from audit import selectors
from audit.export import export_response
from audit.models import AuditEvent

from .base import TenantEndpoint


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = list(selectors.EXPORT_FIELDS)
        read_only_fields = fields


class EventCursorPagination(CursorPagination):
    """Newest first; the id breaks ties between events of the same microsecond."""

    ordering = ("-occurred_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


FILTER_PARAMETERS = [
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="events at or after (ISO 8601)"),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="events before (ISO 8601)"),
    OpenApiParameter("actor", str, description="actor id, or a person's e-mail"),
    OpenApiParameter("action", str, description="an action (client.created) or a family ending in a dot (client.)"),
    OpenApiParameter("target_type", str, description="e.g. oauth.application"),
    OpenApiParameter("target_id", str),
    OpenApiParameter("severity", str, enum=["info", "notice", "warning", "critical"]),
    OpenApiParameter("client", str, description="OAuth client_id acting or acted upon"),
    OpenApiParameter("resource", str, description="canonical URI of an MCP resource"),
    OpenApiParameter("ip", str, description="client IP address"),
]


def event_filter(params) -> selectors.EventFilter:
    try:
        return selectors.EventFilter.from_query(params)
    except selectors.FilterError as exc:
        raise ValidationError({exc.field: [str(exc)]}) from exc


class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantEndpoint):
    """Audit events of the caller's tenant (owners, admins, auditors; tokens with admin:audit.read)."""

    api_area = "audit"
    serializer_class = AuditEventSerializer
    pagination_class = EventCursorPagination
    queryset = AuditEvent.objects.none()

    def get_queryset(self):
        if self.action == "retrieve":
            return AuditEvent.objects.filter(tenant=self.tenant)
        return selectors.search_events(self.tenant, event_filter(self.request.query_params))

    @extend_schema(parameters=FILTER_PARAMETERS)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(parameters=[*FILTER_PARAMETERS, OpenApiParameter("fmt", str, OpenApiParameter.PATH,
                                                                    enum=["jsonl", "csv"])],
                   responses={(200, "application/x-ndjson"): OpenApiTypes.STR, (200, "text/csv"): OpenApiTypes.STR})
    @action(detail=False, methods=["get"], url_path=r"export\.(?P<fmt>jsonl|csv)")
    def export(self, request, fmt):
        """Streams every matching event (JSON Lines or CSV) without loading the range into memory."""
        return export_response(tenant=self.tenant, actor=self.get_actor(), request=request,
                               flt=event_filter(request.query_params), fmt=fmt)


class ChainReportSerializer(serializers.Serializer):
    chain = serializers.CharField()
    ok = serializers.BooleanField()
    events = serializers.IntegerField()
    from_seq = serializers.IntegerField()
    checkpoints_verified = serializers.IntegerField()
    first_break = serializers.DictField(allow_null=True)


class AuditVerificationViewSet(TenantEndpoint):
    """Verifies the tenant's hash chain and signed checkpoints now, and says where it breaks, if it does."""

    api_area = "audit"

    @extend_schema(parameters=[OpenApiParameter("since", OpenApiTypes.DATETIME,
                                                description="start from the newest checkpoint signed before")],
                   responses=ChainReportSerializer)
    def list(self, request):
        flt = event_filter({"since": request.query_params.get("since", "")})
        (report,) = selectors.verify_audit(self.tenant, since=flt.since)
        return Response(report.as_dict())
