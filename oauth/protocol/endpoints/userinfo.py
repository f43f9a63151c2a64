"""OIDC UserInfo: the signed-in user's claims, as far as the access token's scopes allow.

The authorization server is implicitly an audience of its own userinfo endpoint: any live access token
of this tenant that carries ``openid`` is accepted, whatever MCP server it was minted for.
"""

from django.http import JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from ...grants.selectors import access_token_by_value
from .common import bearer_token, no_store, tenant_of


def _challenge(error: str, description: str, status: int):
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["WWW-Authenticate"] = f'Bearer error="{error}", error_description="{description}"'
    return no_store(response)


def claims_for(row) -> dict:
    user, scopes = row.user, set(row.scope_list)
    claims = {"sub": str(user.pk)}
    if "email" in scopes:
        claims.update(email=user.email, email_verified=bool(getattr(user, "email_verified", True)))
    if "profile" in scopes:
        name = user.get_full_name() if hasattr(user, "get_full_name") else ""
        if name:
            claims["name"] = name
    return claims


@method_decorator(csrf_exempt, name="dispatch")
class UserInfoView(View):
    http_method_names = ["get", "post"]

    def dispatch(self, request, *args, **kwargs):
        tenant = tenant_of(request)
        token = bearer_token(request)
        if token is None:
            return _challenge("invalid_request", "send the access token in the Authorization header", 401)
        row = access_token_by_value(tenant, token)
        if row is None:
            return _challenge("invalid_token", "the access token is unknown, expired or revoked", 401)
        if row.user is None or "openid" not in row.scope_list:
            return _challenge("insufficient_scope", "userinfo needs a user's token with the openid scope", 403)
        return no_store(JsonResponse(claims_for(row)))
