"""The audit log's API routes (mounted at /api/v1/, namespace "api", by mcp_platform/urls.py)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import AuditEventViewSet, AuditSettingsViewSet, AuditSinkViewSet, AuditVerificationViewSet

router = SimpleRouter(trailing_slash=False)
router.register("audit/events", AuditEventViewSet, basename="audit-event")
router.register("audit/sinks", AuditSinkViewSet, basename="audit-sink")
urlpatterns = router.urls + [
    path("audit/verification", AuditVerificationViewSet.as_view({"get": "retrieve"}), name="audit-verification"),
    path("audit/settings", AuditSettingsViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
         name="audit-settings"),
]
