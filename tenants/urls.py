"""Console URLs of this app (namespace "console", assembled in mcp_platform/urls.py)."""

from django.urls import path, re_path

from . import audit_views, views

console_urlpatterns = [
    path("", views.console_home, name="home"),
    path("platform/tenants/", views.PlatformTenantsView.as_view(), name="platform-tenants"),
    re_path(r"^platform/tenants/(?P<slug>[^/]+)/(?P<verb>suspend|reactivate)$",
            views.PlatformTenantActionView.as_view(),
         name="platform-tenant-action"),
    path("<str:slug>/", views.DashboardView.as_view(), name="dashboard"),
    path("<str:slug>/members/", views.MembersView.as_view(), name="members"),
    re_path(r"^(?P<slug>[^/]+)/members/(?P<member_id>[0-9a-f-]{36})/(?P<verb>role|remove)$",
            views.MemberActionView.as_view(),
         name="member-action"),
    path("<str:slug>/settings/", views.SettingsView.as_view(), name="settings"),
    re_path(r"^(?P<slug>[^/]+)/settings/custom-domain/(?P<verb>verify|remove)$", views.CustomDomainActionView.as_view(),
            name="custom-domain-action"),
    path("<str:slug>/audit/", audit_views.AuditView.as_view(), name="audit"),
    path("<str:slug>/audit/events/<int:event_id>/", audit_views.AuditEventView.as_view(), name="audit-event"),
    re_path(r"^(?P<slug>[^/]+)/audit/export\.(?P<fmt>jsonl|csv)$", audit_views.AuditExportView.as_view(),
            name="audit-export"),
    path("<str:slug>/audit/exports/<str:run_id>/download", audit_views.AuditExportDownloadView.as_view(),
         name="audit-export-download"),
    path("<str:slug>/audit/verify/", audit_views.AuditVerifyView.as_view(), name="audit-verify"),
    path("<str:slug>/audit/settings/", audit_views.AuditSettingsView.as_view(), name="audit-settings"),
    re_path(r"^(?P<slug>[^/]+)/audit/sinks/(?P<sink_id>[0-9a-f-]{36})/(?P<verb>pause|resume|delete)$",
            audit_views.AuditSinkActionView.as_view(), name="audit-sink-action"),
]
