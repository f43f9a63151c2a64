"""URLs of registration, collected by mcp_platform/urls.py like an app's ("oauth.registration" in
APPS_WITH_URLS): the protocol endpoints under the tenant issuer
(and at the root of a verified custom domain), the justification form, and the console's approval queue."""

from django.urls import path

from . import views
from .endpoints import ClientConfigurationView, JustificationView, RegistrationView


def _endpoints(prefix: str) -> list:
    return [
        path("register", RegistrationView.as_view(), name=f"{prefix}register"),
        path("register/<str:client_id>", ClientConfigurationView.as_view(), name=f"{prefix}client-configuration"),
    ]


tenant_urlpatterns = [
    *_endpoints("oauth-"),
    path("registration/<uuid:pk>/justification", JustificationView.as_view(), name="oauth-registration-justify"),
]
root_urlpatterns = _endpoints("oauth-domain-")
console_urlpatterns = [
    path("<str:slug>/approvals", views.ApprovalQueueView.as_view(), name="approvals"),
    # The clients page links the queue by this name (oauth/console.py).
    path("<str:slug>/approvals", views.ApprovalQueueView.as_view(), name="registrations"),
    path("<str:slug>/approvals/<uuid:pk>", views.ApprovalDetailView.as_view(), name="approval"),
    path("<str:slug>/approvals/settings", views.RegistrationSettingsView.as_view(), name="registration-settings"),
]
