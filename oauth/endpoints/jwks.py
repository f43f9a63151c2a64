"""The tenant's JWK Set: next, active and retired public keys (never a private one)."""

from django.http import JsonResponse
from django.views.decorators.http import require_GET

from .. import keys
from .common import tenant_of

JWKS_MAX_AGE = 300  # a next key is published well before it signs, so caches see it in time


@require_GET
def jwks_view(request, *args, **kwargs):
    response = JsonResponse(keys.jwks(tenant_of(request)))
    response["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE}"
    response["Access-Control-Allow-Origin"] = "*"
    return response
