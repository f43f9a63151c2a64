"""The tenant's JWK Set: next, active and retired public keys (never a private one)."""

from django.views.decorators.http import require_GET

from kit import documents
from kit.tenant_cache import near

from ...signing import keys
from .common import tenant_of


def jwks_document(tenant) -> documents.Document:
    """Rendered once per tenant generation (every key change moves it: oauth/signing/keys.py,
    oauth/protocol/cache.py)."""
    return near(tenant.pk, "jwks-document", None,
                lambda: documents.render(keys.jwks(tenant), max_age=keys.JWKS_MAX_AGE))


@require_GET
def jwks_view(request, *args, **kwargs):
    return documents.django_response(request, jwks_document(tenant_of(request)))
