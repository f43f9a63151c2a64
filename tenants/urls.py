"""Console URLs of this app (namespace "console", assembled in mcp_platform/urls.py)."""

from django.urls import path, re_path

from . import views

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
]
