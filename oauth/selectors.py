"""Reads of the authorization server, incl. the lookups the token endpoint repeats on every request
(cached with explicit invalidation) and bearer-token verification for the platform REST API."""

from __future__ import annotations

import hashlib

from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from .models import ADMIN_SCOPES, AccessToken, Application, Consent, RefreshToken, TenantAuthSettings, api_audience

SETTINGS_TTL = 300


def _settings_key(tenant_id) -> str:
    return f"oauth:tenant-settings:{tenant_id}"


def forget_tenant_settings(tenant_id) -> None:
    cache.delete(_settings_key(tenant_id))


def tenant_settings(tenant) -> TenantAuthSettings:
    """The tenant's authorization settings (defaults when never saved); cached, dropped on update."""
    cached = cache.get(_settings_key(tenant.pk))
    if cached is not None:
        return cached
    found = TenantAuthSettings.objects.for_tenant(tenant).first() or TenantAuthSettings(tenant=tenant)
    cache.set(_settings_key(tenant.pk), found, SETTINGS_TTL)
    return found


def client_by_id(tenant, client_id: str) -> Application | None:
    if not isinstance(client_id, str) or not client_id or "\x00" in client_id or len(client_id) > 255:
        return None
    return Application.objects.for_tenant(tenant).filter(client_id=client_id).select_related("tenant").first()


def clients_of(tenant, *, search: str = "", status: str = ""):
    qs = Application.objects.for_tenant(tenant).prefetch_related("allowed_resources").order_by("name")
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(client_id__icontains=search))
    if status:
        qs = qs.filter(status=status)
    return qs


def token_checksum(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def access_token_by_value(tenant, token: str) -> AccessToken | None:
    """The live access-token row for a presented token, of this tenant only."""
    if not token or len(token) > 8192:
        return None
    return (AccessToken.objects.for_tenant(tenant).select_related("application", "user", "tenant")
            .filter(token_checksum=token_checksum(token), expires__gt=timezone.now()).first())


def refresh_token_by_value(tenant, token: str) -> RefreshToken | None:
    if not token or len(token) > 8192:
        return None
    return (RefreshToken.objects.for_tenant(tenant).select_related("application", "user", "access_token")
            .filter(token_checksum=token_checksum(token)).order_by("-created").first())


def tokens_of(tenant, *, client=None, user=None, audience: str = ""):
    """Live access tokens for the console/API list, newest first."""
    qs = (AccessToken.objects.for_tenant(tenant).select_related("application", "user")
          .filter(expires__gt=timezone.now()).order_by("-created"))
    if client is not None:
        qs = qs.filter(application=client)
    if user is not None:
        qs = qs.filter(user=user)
    if audience:
        qs = qs.filter(audience=audience)
    return qs


def consents_of(tenant, user):
    """The user's connected apps: one row per client and resource they said yes to."""
    return (Consent.objects.for_tenant(tenant).filter(user=user).select_related("application")
            .order_by("-updated_at"))


def api_token(token: str) -> AccessToken | None:
    """For the platform REST API (/api/v1): the verified access-token row of a client_credentials token
    whose audience is the API, with ``.tenant`` and ``.application`` loaded; None if not valid.

    The API has no tenant in its URL: the token names it. The row lookup by checksum is the proof (the
    platform issued it, it is unexpired and unrevoked); ``scope_list`` holds the admin scopes granted.
    """
    if not token or len(token) > 8192:
        return None
    row = (AccessToken.objects.unscoped().select_related("tenant", "application")
           .filter(token_checksum=token_checksum(token), expires__gt=timezone.now(), audience=api_audience())
           .first())
    if row is None or not row.tenant.is_active or not row.application.is_usable(None):
        return None
    return row


def admin_scopes_of(row: AccessToken) -> set[str]:
    return {s for s in row.scope_list if s in ADMIN_SCOPES}


def grants_of(tenant, *, client=None, user_email: str = "", audience: str = ""):
    """Remembered consents of the tenant (the admin's "grants" view), newest first."""
    qs = Consent.objects.for_tenant(tenant).select_related("application", "user").order_by("-updated_at")
    if client is not None:
        qs = qs.filter(application=client)
    if user_email:
        qs = qs.filter(user__email__iexact=user_email)
    if audience:
        qs = qs.filter(audience=audience)
    return qs


def signing_keys_of(tenant, *, include_removed: bool = False):
    from .models import KeyState, SigningKey

    qs = SigningKey.objects.for_tenant(tenant).order_by("-created_at")
    return qs if include_removed else qs.exclude(state=KeyState.REMOVED)
