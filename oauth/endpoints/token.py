"""The token endpoint: authorization_code (PKCE S256), refresh_token (rotating), client_credentials.

oauthlib (through DOT) validates the grant; the tenant-aware validator scopes every lookup and decides
the token's audience and scopes. This view adds what RFC 6749 and OAuth 2.1 ask of the response:
``Cache-Control: no-store``, and 401 with ``WWW-Authenticate`` when client authentication fails.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider.views.mixins import OAuthLibMixin

from ..models import GRANT_TYPES
from .common import claimed_client_id, no_store, oauth_error, rate_limited, refuse_malformed, tenant_of


def client_auth_challenge(request, response):
    """RFC 6749 §5.2: a failed client authentication answers 401 with the scheme the client used."""
    if response.status_code == 401:
        response["WWW-Authenticate"] = f'Basic realm="{tenant_of(request).issuer}"'
    return response


def as_response(headers: dict, body, status: int) -> HttpResponse:
    response = HttpResponse(body or "", status=status, content_type="application/json")
    for name, value in headers.items():
        if name.lower() != "www-authenticate":
            response[name] = value
    return response


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(sensitive_post_parameters("client_secret", "code", "code_verifier", "refresh_token",
                                            "client_assertion"), name="post")
class TokenView(OAuthLibMixin, View):
    http_method_names = ["post", "options"]

    def post(self, request, *args, **kwargs):
        tenant_of(request)
        if (refused := refuse_malformed(request)) is not None:
            return refused
        grant_type = request.POST.get("grant_type")
        if not grant_type:
            return oauth_error("invalid_request", "grant_type is required")
        if grant_type not in GRANT_TYPES:
            return oauth_error("unsupported_grant_type",
                               f"grant_type must be one of {', '.join(GRANT_TYPES)}; implicit, password and "
                               "device_code do not exist here")
        if (limited := rate_limited(request, "token", settings.TOKEN_RATE_PER_CLIENT,
                                    claimed_client_id(request))) is not None:
            return limited
        _, headers, body, status = self.create_token_response(request)
        return no_store(client_auth_challenge(request, as_response(headers, body, status)))
