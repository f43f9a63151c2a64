"""The audit log API: search with filters and cursor pagination, one event, streaming export, and the
verification of the tenant's chain. It stands on the tenant API base (``tenants.api.base.TenantEndpoint``),
as every app's API may; every query goes through audit.selectors with ``self.tenant``."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from tenants.api import strict
from tenants.api.base import TenantEndpoint
from tenants.models import Role

from .. import failures, selectors, services
from ..export import export_response
from ..models import AuditEvent, AuditSink, AuditTenantSettings, SinkState


class AuditEventSerializer(strict.ModelSerializer):
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
        return selectors.search_events(self.tenant, event_filter(self.request.query_params))

    @extend_schema(parameters=FILTER_PARAMETERS)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def retrieve(self, request, pk=None):
        event = selectors.event_of_tenant(self.tenant, pk)
        if event is None:
            if selectors.event_exists_in_another_tenant(self.tenant, pk):
                failures.cross_tenant_attempt_record(tenant=self.tenant, actor=self.get_actor(), request=request,
                                                     object_type="audit.auditevent", object_id=pk)
            raise NotFound(f"no audit event {pk} in tenant '{self.tenant.slug}'")
        return Response(self.get_serializer(event).data)

    @extend_schema(operation_id="audit_events_export",
                   parameters=[*FILTER_PARAMETERS, OpenApiParameter("fmt", str, OpenApiParameter.PATH,
                                                                    enum=["jsonl", "csv"])],
                   responses={(200, "application/x-ndjson"): OpenApiTypes.STR, (200, "text/csv"): OpenApiTypes.STR})
    @action(detail=False, methods=["get"], url_path=r"export\.(?P<fmt>jsonl|csv)")
    def export(self, request, fmt):
        """Streams every matching event (JSON Lines or CSV) without loading the range into memory."""
        return export_response(tenant=self.tenant, actor=self.get_actor(), request=request,
                               flt=event_filter(request.query_params), fmt=fmt)


class ChainReportSerializer(strict.Serializer):
    chain = serializers.CharField()
    ok = serializers.BooleanField()
    events = serializers.IntegerField()
    from_seq = serializers.IntegerField()
    checkpoints_verified = serializers.IntegerField()
    first_break = serializers.DictField(allow_null=True)


class AuditVerificationViewSet(TenantEndpoint):
    """Verifies the tenant's hash chain and signed checkpoints now, and says where it breaks, if it does."""

    api_area = "audit"
    pagination_class = None

    @extend_schema(parameters=[OpenApiParameter("since", OpenApiTypes.DATETIME,
                                                description="start from the newest checkpoint signed before")],
                   responses=ChainReportSerializer)
    def retrieve(self, request):
        flt = event_filter({"since": request.query_params.get("since", "")})
        (report,) = selectors.verify_audit(self.tenant, since=flt.since)
        return Response(report.as_dict())


class AuditSinkSerializer(strict.ModelSerializer):
    from_start = serializers.BooleanField(write_only=True, required=False, default=False,
                                          help_text="also send the events recorded before the sink existed")

    class Meta:
        model = AuditSink
        fields = ["id", "name", "url", "state", "cursor_seq", "attempts", "next_attempt_at", "last_error",
                  "last_delivered_at", "created_at", "from_start"]
        read_only_fields = ["id", "state", "cursor_seq", "attempts", "next_attempt_at", "last_error",
                            "last_delivered_at", "created_at"]


class AuditSinkCreatedSerializer(AuditSinkSerializer):
    secret = serializers.CharField(read_only=True, help_text="HMAC-SHA256 key of X-Audit-Signature; shown once")

    class Meta(AuditSinkSerializer.Meta):
        fields = AuditSinkSerializer.Meta.fields + ["secret"]


class AuditSinkViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TenantEndpoint):
    """SIEM webhook sinks of the caller's tenant: delivery state, cursor and dead letters."""

    api_area = "audit"
    serializer_class = AuditSinkSerializer
    pagination_class = None
    queryset = AuditSink.objects.none()

    def get_queryset(self):
        return selectors.sinks_of(self.tenant)

    @extend_schema(request=AuditSinkSerializer, responses={201: AuditSinkCreatedSerializer})
    def create(self, request):
        data = AuditSinkSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sink, secret = services.sink_create(tenant=self.tenant, actor=self.get_actor(), request=request,
                                            **data.validated_data)
        sink.secret = secret
        return Response(AuditSinkCreatedSerializer(sink).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.sink_delete(sink=instance, actor=self.get_actor(), request=self.request)

    @extend_schema(request=None, responses=AuditSinkSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        sink = services.sink_set_state(sink=self.get_object(), state=SinkState.PAUSED, actor=self.get_actor(),
                                       request=request)
        return Response(AuditSinkSerializer(sink).data)

    @extend_schema(request=None, responses=AuditSinkSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Also takes a sink out of dead letter: delivery continues after its cursor."""
        sink = services.sink_set_state(sink=self.get_object(), state=SinkState.ACTIVE, actor=self.get_actor(),
                                       request=request)
        return Response(AuditSinkSerializer(sink).data)


class AuditSettingsSerializer(strict.ModelSerializer):
    class Meta:
        model = AuditTenantSettings
        fields = ["retention_days", "pending_retention_days", "pending_retention_from", "ip_truncation",
                  "updated_at"]
        read_only_fields = ["pending_retention_days", "pending_retention_from", "updated_at"]


class AuditSettingsViewSet(TenantEndpoint):
    """Retention (days; null keeps events forever) and IP truncation of the caller's tenant."""

    api_area = "audit"
    step_up = True
    pagination_class = None
    serializer_class = AuditSettingsSerializer

    def _current(self):
        return AuditTenantSettings.objects.filter(tenant_id=self.tenant.pk).first() or AuditTenantSettings(
            tenant_id=self.tenant.pk)

    def retrieve(self, request):
        return Response(AuditSettingsSerializer(self._current()).data)

    def partial_update(self, request):
        data = AuditSettingsSerializer(self._current(), data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        # Retention is a person's decision: only an owner's own session, never a management token.
        membership = getattr(request, "membership", None)
        policy = services.audit_settings_update(
            tenant=self.tenant, actor=self.get_actor(), request=request,
            actor_is_owner=membership is not None and membership.role == Role.OWNER, **data.validated_data)
        return Response(AuditSettingsSerializer(policy).data)
