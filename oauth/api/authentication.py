"""The REST API accepts the platform's own access tokens (dogfooding, ARCHITECTURE §9).

A tenant admin creates a confidential client_credentials client with admin scopes (``admin:clients``,
``admin:audit.read``, ...), gets a token at ``/t/<slug>/token`` with ``resource={PUBLIC_URL}/api/v1`` and
calls ``/api/v1/...`` with ``Authorization: Bearer <token>``. The token names the tenant, so the API has
no tenant in its URLs; ``tenants.api.base.TenantPermission`` reads ``request.auth.tenant`` and
``request.auth.scopes``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from oauth.grants.selectors import admin_scopes_of, api_token
from oauth.models import api_audience


@dataclass(frozen=True)
class PlatformCredential:
    """``request.auth`` for a token-authenticated API call."""

    tenant: object
    scopes: frozenset
    application: object
    token: object  # the AccessToken row (never the token itself)


def _bearer(request) -> str | None:
    scheme, _, value = get_authorization_header(request).decode("latin-1").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


class PlatformTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <access token>`` issued by a tenant for the platform API audience."""

    def authenticate(self, request):
        token = _bearer(request)
        if token is None:
            return None  # not ours: the session authenticator may still know the caller
        row = api_token(token)
        if row is None:
            raise AuthenticationFailed(
                "the bearer token is not valid for this API (unknown, expired, revoked, or issued for another "
                f"resource): get one at /t/<tenant>/token with grant_type=client_credentials and "
                f"resource={api_audience()}")
        credential = PlatformCredential(tenant=row.tenant, scopes=frozenset(admin_scopes_of(row)),
                                        application=row.application, token=row)
        return AnonymousUser(), credential

    def authenticate_header(self, request):
        # RFC 6750 §3 challenge for callers that tried a bearer token. Callers without one keep the
        # session API's 403 (DRF answers 403 when the first authenticator offers no challenge).
        if _bearer(request) is None:
            return None
        return f'Bearer realm="{api_audience()}", error="invalid_token"'



class PlatformTokenScheme(OpenApiAuthenticationExtension):
    """Names the scheme in the OpenAPI document."""

    target_class = PlatformTokenAuthentication
    name = "platformToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "A client_credentials access token of the tenant with admin scopes, requested "
                               "with resource=<PUBLIC_URL>/api/v1."}
