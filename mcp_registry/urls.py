from django.urls import path, re_path

from . import views

console_urlpatterns = [
    path("<str:slug>/resources/", views.ResourcesView.as_view(), name="resources"),
    path("<str:slug>/resources/clients/", views.ClientCompatibilityView.as_view(), name="client-compatibility"),
    path("<str:slug>/resources/<uuid:resource_id>/", views.ResourceDetailView.as_view(), name="resource"),
    re_path(r"^(?P<slug>[^/]+)/resources/(?P<resource_id>[0-9a-f-]{36})/(?P<verb>[a-z-]{1,30})$",
            views.ResourceActionView.as_view(), name="resource-action"),
]

# Mounted under /t/<slug>/: the stable URL that mcp_guard mirrors for external resources.
tenant_urlpatterns = [
    path("resources/<uuid:resource_id>/protected-resource-metadata", views.mirrored_prm, name="resource-prm"),
]

# RFC 9728 path insertion for resources the platform hosts (the tenant middleware resolves the slug).
root_urlpatterns = [
    path(".well-known/oauth-protected-resource/t/<str:slug>/mcp/<slug:name>", views.gateway_prm,
         name="gateway-prm"),
]
