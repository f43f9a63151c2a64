"""The tenant's authorization-server settings as every request reads them: cached, dropped on update."""

from __future__ import annotations

from django.core.cache import cache

from kit.tenant_cache import forget_tenant, near

from ..models import TenantAuthSettings

SETTINGS_TTL = 300


def _settings_key(tenant_id) -> str:
    return f"oauth:tenant-settings:{tenant_id}"


def forget_tenant_settings(tenant_id) -> None:
    cache.delete(_settings_key(tenant_id))
    forget_tenant(tenant_id)  # and every process's near copy (kit/tenant_cache.py)


def tenant_settings(tenant) -> TenantAuthSettings:
    """The tenant's authorization settings (defaults when never saved); cached, dropped on update."""
    return near(tenant.pk, "settings", None, lambda: _shared_tenant_settings(tenant))


def _shared_tenant_settings(tenant) -> TenantAuthSettings:
    cached = cache.get(_settings_key(tenant.pk))
    if cached is not None:
        return cached
    found = TenantAuthSettings.objects.for_tenant(tenant).first() or TenantAuthSettings(tenant=tenant)
    cache.set(_settings_key(tenant.pk), found, SETTINGS_TTL)
    return found
