"""RFC 7662 token introspection for resource servers authenticated as clients of the same tenant.

A token of another tenant (or unknown, expired, revoked) is ``{"active": false}`` and nothing more.
"""

from django.conf import settings
from django.http import JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.views.mixins import OAuthLibMixin

from ...grants.selectors import access_token_facts, refresh_token_by_value
from .common import claimed_client_id, no_store, oauth_error, rate_limited, refuse_malformed, tenant_of
from .token import audit_refusal, client_auth_challenge


def _subject(user_id, client_id: str) -> str:
    return str(user_id) if user_id else client_id


def access_token_description(tenant, facts: dict) -> dict:
    """RFC 7662's answer for a live access token, from the columns selectors.INTROSPECTED_COLUMNS names
    (Django's view and the lean path, oauth/lean, answer with this)."""
    client_id = facts["application__cimd_url"] or facts["application__client_id"]
    return {"active": True, "iss": tenant.issuer, "sub": _subject(facts["user_id"], client_id),
            "aud": facts["audience"], "scope": facts["scope"], "client_id": client_id,
            "token_type": "Bearer", "exp": int(facts["expires"].timestamp()),
            "iat": int(facts["created"].timestamp()), "jti": facts["jti"]}


def describe(tenant, token: str, hint: str = "") -> dict:
    kinds = ("refresh", "access") if hint == "refresh_token" else ("access", "refresh")
    for kind in kinds:
        if kind == "access":
            facts = access_token_facts(tenant, token)
            if facts is not None:
                return access_token_description(tenant, facts)
        else:
            row = refresh_token_by_value(tenant, token)
            if row is not None and row.revoked is None and row.access_token is not None:
                client_id = row.application.public_client_id
                return {"active": True, "iss": tenant.issuer, "sub": _subject(row.user_id, client_id),
                        "aud": row.audience, "scope": row.access_token.scope, "client_id": client_id,
                        "token_type": "refresh_token", "iat": int(row.created.timestamp())}
    return {"active": False}


@method_decorator(csrf_exempt, name="dispatch")
class IntrospectView(OAuthLibMixin, View):
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        tenant = tenant_of(request)
        if (refused := refuse_malformed(request)) is not None:
            return refused
        if not self.authenticate_client(request):
            audit_refusal(request, '{"error": "invalid_client"}', endpoint="introspect")
            return no_store(client_auth_challenge(request, oauth_error(
                "invalid_client", "authenticate as a confidential client of this tenant to introspect tokens",
                status=401)))
        if (limited := rate_limited(request, "introspect", settings.INTROSPECTION_RATE_PER_CALLER,
                                    claimed_client_id(request))) is not None:
            return limited
        token = request.POST.get("token")
        if not token:
            return oauth_error("invalid_request", "token is required")
        return no_store(JsonResponse(describe(tenant, token, request.POST.get("token_type_hint", ""))))
