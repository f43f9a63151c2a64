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


class TenantOfParentQuerySet(TenantScopedQuerySet):
    """Rows of a many-to-many link table that is tenant-owned: ``a.links.add/set`` bulk-create link rows
    (through ``manager.using(db)``, a queryset) without save() or ``through_defaults``, so each row gets its
    tenant here, from the row its model's ``tenant_from`` foreign key names."""

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        parent = self.model._meta.get_field(self.model.tenant_from)
        missing = {getattr(o, parent.attname) for o in objs if o.tenant_id is None}
        if missing:
            owners = dict(parent.related_model._base_manager.filter(pk__in=missing).values_list("pk", "tenant_id"))
            for o in objs:
                if o.tenant_id is None:
                    o.tenant_id = owners[getattr(o, parent.attname)]
        return super().bulk_create(objs, *args, **kwargs)


class TenantOfParentManager(TenantScopedManager):
    _queryset_class = TenantOfParentQuerySet


class TenantOwned(models.Model):
    """Base of every tenant-owned row (row-level tenancy, ARCHITECTURE §2)."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE,
                               related_name="%(app_label)s_%(class)s_set")

    objects = TenantScopedManager()

    class Meta:
        abstract = True
