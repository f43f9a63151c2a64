"""RFC 8414 authorization server metadata and OpenID Connect discovery, one document per tenant.

Served at every URL an MCP client tries (spec checklist, "Discovery orders"): path insertion
(/.well-known/oauth-authorization-server/t/<slug>, /.well-known/openid-configuration/t/<slug>), path
appending (/t/<slug>/.well-known/...), and the root paths on a verified custom domain. ``issuer`` is
always ``tenant.issuer``, byte for byte, whichever URL was used (RFC 8414 §3.3).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.views.decorators.http import require_GET

from kit import authn, documents
from kit.tenant_cache import near
from mcp_registry import selectors as registry

from ...models import GRANT_TYPES, PROTOCOL_SCOPES, AuthMethod, KeyAlgorithm
from ..client_auth import ASSERTION_ALGS
from .common import tenant_of

METADATA_MAX_AGE = 60

# Other parts of the authorization server add fields here, e.g. the registration endpoint when the
# tenant enables Dynamic Client Registration: ``register_metadata_contributor(lambda tenant: {...})``.
# A contributor returns {} when its feature is off for the tenant.
_contributors: list[Callable] = []


def register_metadata_contributor(contributor: Callable) -> Callable:
    if contributor not in _contributors:
        _contributors.append(contributor)
    return contributor


def registration_endpoint(tenant) -> str | None:
    """The RFC 7591 endpoint when a contributor enables registration for the tenant, else None."""
    return metadata(tenant).get("registration_endpoint")


def tenant_scopes(tenant) -> list[str]:
    return sorted(registry.active_scope_names(tenant) | set(PROTOCOL_SCOPES))


def metadata(tenant) -> dict:
    issuer = tenant.issuer
    confidential = [AuthMethod.SECRET_BASIC.value, AuthMethod.SECRET_POST.value, AuthMethod.PRIVATE_KEY_JWT.value]
    document = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks.json",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [AuthMethod.NONE.value, *confidential],
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint_auth_methods_supported": [AuthMethod.NONE.value, *confidential],
        "introspection_endpoint_auth_methods_supported": confidential,
        "scopes_supported": tenant_scopes(tenant),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(KeyAlgorithm.values),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "acr", "email",
                             "email_verified", "name"],
        # Honoured at /authorize: a multi-factor acr forces the second factor (kit/authn.py).
        "acr_values_supported": list(authn.ACR_VALUES_SUPPORTED),
        # OIDC Discovery §3: the languages of the sign-in and consent pages (ui_locales, tenants/locale.py).
        "ui_locales_supported": [code for code, _name in settings.LANGUAGES],
        "authorization_response_iss_parameter_supported": True,
        "require_pushed_authorization_requests": False,
        # RFC 8707 is not in the RFC 8414 registry; this tells MCP clients `resource` is honoured.
        "resource_indicators_supported": True,
    }
    for contributor in _contributors:
        document.update(contributor(tenant) or {})
    return document


def metadata_document(tenant) -> documents.Document:
    """Rendered once per tenant generation: the tenant row, its resources and scopes, its settings and
    registration policy all move it (kit/tenant_cache.py)."""
    return near(tenant.pk, "metadata-document", None,
                lambda: documents.render(metadata(tenant), max_age=METADATA_MAX_AGE))


@require_GET
def metadata_view(request, *args, **kwargs):
    return documents.django_response(request, metadata_document(tenant_of(request)))
