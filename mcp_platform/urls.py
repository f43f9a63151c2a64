"""URL wiring. Each app's urls.py may export any of:

    console_urlpatterns   mounted at /console/       (namespace "console")
    tenant_urlpatterns    mounted at /t/<slug>/      (the tenant middleware has set request.tenant)
    api_urlpatterns       mounted at /api/v1/        (DRF; tenant from the credential)
    root_urlpatterns      mounted at /               (well-known documents with path insertion, ...)

so an app adds pages without touching this file.
"""

from importlib import import_module

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from identity.views import ConsoleSignInView, SignOutView

from . import api_docs, health, metrics

APPS_WITH_URLS = ["tenants", "identity", "identity.mfa", "jobs", "mcp_registry", "oauth", "oauth.registration", "audit"]


def _optional_patterns(module_name: str, attribute: str) -> list:
    try:
        module = import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name and not module_name.startswith(f"{exc.name}."):  # the module or its package
            raise
        return []
    return list(getattr(module, attribute, []))


def _collect(attribute: str) -> list:
    if attribute == "api_urlpatterns":  # API routes live in app/api/urls.py
        return [p for app in APPS_WITH_URLS for p in _optional_patterns(f"{app}.api.urls", "urlpatterns")]
    return [p for app in APPS_WITH_URLS for p in _optional_patterns(f"{app}.urls", attribute)]


api_urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", api_docs.OfflineRedocView.as_view(url_name="api:schema"), name="redoc"),
    *_collect("api_urlpatterns"),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="console:home", permanent=False)),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("login", ConsoleSignInView.as_view(), name="login"),
    path("logout", SignOutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("console/", include((_collect("console_urlpatterns"), "console"))),
    path("api/v1/", include((api_urlpatterns, "api"))),
    re_path(r"^api/(?P<path>.*)$", api_docs.api_not_found),  # after every API route: unknown paths get JSON
    path("t/<str:slug>/", include(_collect("tenant_urlpatterns"))),
    *_collect("root_urlpatterns"),
]

handler500 = "mcp_platform.health.server_error"
