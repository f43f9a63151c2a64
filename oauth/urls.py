"""URLs of the authorization server.

``tenant_urlpatterns`` are mounted under /t/<slug>/ (the tenant's issuer); ``root_urlpatterns`` hold
the RFC 8414 / OIDC path-insertion documents and, for a verified custom domain (issuer
https://<domain>), the same endpoints at the root, where the middleware resolved the tenant by host.
"""

from django.urls import path

from .console import console_urlpatterns as _admin_pages  # clients, tokens, keys, settings
from .console_jobs import console_urlpatterns as _job_pages  # jobs and key-rotation pages
from .protocol.endpoints.apps import ConnectedAppsView
from .protocol.endpoints.authorize import AuthorizationView
from .protocol.endpoints.discovery import metadata_view
from .protocol.endpoints.introspect import IntrospectView
from .protocol.endpoints.jwks import jwks_view
from .protocol.endpoints.revoke import RevokeView
from .protocol.endpoints.token import TokenView
from .protocol.endpoints.userinfo import UserInfoView


def _endpoints(prefix: str) -> list:
    return [
        path("authorize", AuthorizationView.as_view(), name=f"{prefix}authorize"),
        path("token", TokenView.as_view(), name=f"{prefix}token"),
        path("revoke", RevokeView.as_view(), name=f"{prefix}revoke"),
        path("introspect", IntrospectView.as_view(), name=f"{prefix}introspect"),
        path("userinfo", UserInfoView.as_view(), name=f"{prefix}userinfo"),
        path("jwks.json", jwks_view, name=f"{prefix}jwks"),
        path(".well-known/openid-configuration", metadata_view, name=f"{prefix}openid-configuration"),
        path(".well-known/oauth-authorization-server", metadata_view, name=f"{prefix}as-metadata"),
    ]


console_urlpatterns = [*_admin_pages, *_job_pages]

tenant_urlpatterns = [
    *_endpoints("oauth-"),
    path("account/apps", ConnectedAppsView.as_view(), name="oauth-connected-apps"),
    path("account/apps/<uuid:consent_id>/revoke", ConnectedAppsView.as_view(), name="oauth-connected-app-revoke"),
]

root_urlpatterns = [
    path(".well-known/oauth-authorization-server/t/<str:slug>", metadata_view, name="oauth-as-metadata-inserted"),
    path(".well-known/openid-configuration/t/<str:slug>", metadata_view, name="oauth-openid-configuration-inserted"),
    *_endpoints("oauth-domain-"),
]
