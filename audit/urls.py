"""Console URLs of the audit log (namespace "console", assembled in mcp_platform/urls.py)."""

from django.urls import path, re_path

from . import views

console_urlpatterns = [
    path("<str:slug>/audit/", views.AuditView.as_view(), name="audit"),
    path("<str:slug>/audit/events/<int:event_id>/", views.AuditEventView.as_view(), name="audit-event"),
    re_path(r"^(?P<slug>[^/]+)/audit/export\.(?P<fmt>jsonl|csv)$", views.AuditExportView.as_view(),
            name="audit-export"),
    path("<str:slug>/audit/exports/<str:run_id>/download", views.AuditExportDownloadView.as_view(),
         name="audit-export-download"),
    path("<str:slug>/audit/verify/", views.AuditVerifyView.as_view(), name="audit-verify"),
    path("<str:slug>/audit/settings/", views.AuditSettingsView.as_view(), name="audit-settings"),
    re_path(r"^(?P<slug>[^/]+)/audit/sinks/(?P<sink_id>[0-9a-f-]{36})/(?P<verb>pause|resume|delete)$",
            views.AuditSinkActionView.as_view(), name="audit-sink-action"),
]
