"""The abstract base of every tenant-owned row and its manager, scoped to the bound tenant.

Row-level tenancy (docs/architecture.md): every tenant-owned table has ``tenant_id``, a foreign key to
``"tenants.Tenant"`` named by string so that the kit imports no app.
"""

from __future__ import annotations

from django.db import models

from .tenancy import get_current_tenant


class TenantScopedQuerySet(models.QuerySet):
    def for_tenant(self, tenant):
        return self.filter(tenant=tenant)


class TenantScopedManager(models.Manager.from_queryset(TenantScopedQuerySet)):
    """Scopes every query to the bound tenant (request or job), so the scoped query is the default one.

    Code still says ``Model.objects.for_tenant(t)``; the automatic filter is the second wall for code
    that forgets, such as django-oauth-toolkit's own lookups. Outside a tenant context (platform staff,
    jobs, migrations) nothing is added; ``unscoped()`` says so explicitly where a request needs it.
    """

    def get_queryset(self):
        qs = super().get_queryset()
        tenant = get_current_tenant()
        if tenant is not None:
            qs = qs.filter(tenant=tenant)
        return qs

    def for_tenant(self, tenant):
        bound = get_current_tenant()
        if bound is not None and tenant is not None and bound.pk != tenant.pk:
            raise PermissionError(f"query for tenant '{tenant.slug}' inside tenant '{bound.slug}' context")
        return super().get_queryset().filter(tenant=tenant)

    def unscoped(self):
        return super().get_queryset()


class TenantOwned(models.Model):
    """Base of every tenant-owned row (row-level tenancy, ARCHITECTURE §2)."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE,
                               related_name="%(app_label)s_%(class)s_set")

    objects = TenantScopedManager()

    class Meta:
        abstract = True
