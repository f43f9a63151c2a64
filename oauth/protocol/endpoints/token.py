"""The token endpoint: authorization_code (PKCE S256), refresh_token (rotating), client_credentials.

oauthlib (through DOT) validates the grant; the tenant-aware validator scopes every lookup and decides
the token's audience and scopes. This view adds what RFC 6749 and OAuth 2.1 ask of the response:
``Cache-Control: no-store``, and 401 with ``WWW-Authenticate`` when client authentication fails.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider.views.mixins import OAuthLibMixin

import audit

from ...models import GRANT_TYPES
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
        if status in (400, 401):
            audit_refusal(request, body, grant_type=grant_type)
        return no_store(client_auth_challenge(request, as_response(headers, body, status)))


# Which refusals are attacks worth an audit line (aggregated per address and minute, audit/failures.py):
# a wrong secret or assertion, and a code or refresh token that is not valid for this client here.
AUDITED_ERRORS = {"invalid_client": "security.client_auth_failed", "invalid_grant": "security.grant_refused"}


def audit_refusal(request, body, **data) -> None:
    try:
        error = json.loads(body or "{}").get("error", "")
    except ValueError:
        return
    action = AUDITED_ERRORS.get(error)
    if action is None:
        return
    client_id = claimed_client_id(request)
    audit.failure(tenant_of(request), action, source=request.META.get("REMOTE_ADDR") or "unknown",
                  target=("oauth.application", "", client_id[:255]), request=request, client_id=client_id[:255],
                  error=error, **data)
