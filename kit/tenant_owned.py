"""The abstract base of every tenant-owned row and its manager, scoped to the bound tenant.

Row-level tenancy (docs/architecture.md): every tenant-owned table has ``tenant_id``, a foreign key to
``"tenants.Tenant"`` named by string so that the kit imports no app.
"""

from __future__ import annotations

from django.db import models

from .tenancy import get_current_tenant, platform_wide, unbound_queries_refused


class UnboundTenantQuery(RuntimeError):
    """A tenant-owned query in request code with no tenant bound: it would have read every tenant's rows."""


class TenantScopedQuerySet(models.QuerySet):
    """``unbound``: built by the default manager while no tenant was bound, so it reads every tenant's
    rows. Evaluated in request code, such a query raises: at evaluation, not construction, so that a
    queryset a module builds when it is imported (a form field's choices, a view's ``queryset``) fails
    only if a request really reads it."""

    unbound = False

    def for_tenant(self, tenant):
        narrowed = self.filter(tenant=tenant)
        narrowed.unbound = False
        return narrowed

    def _clone(self):
        clone = super()._clone()
        clone.unbound = self.unbound
        return clone

    def _refuse_unbound(self):
        if self.unbound and unbound_queries_refused():
            raise UnboundTenantQuery(
                f"{self.model._meta.label}: a tenant-owned query in request code with no tenant bound; "
                f"say {self.model.__name__}.objects.for_tenant(tenant) or, where every tenant's rows are "
                "meant, .unscoped()")

    # Every way a queryset reaches the database (get, first, iteration, len and bool go through _fetch_all).
    def _fetch_all(self):
        if self._result_cache is None:
            self._refuse_unbound()
        super()._fetch_all()

    def iterator(self, *args, **kwargs):
        self._refuse_unbound()
        return super().iterator(*args, **kwargs)

    def count(self):
        self._refuse_unbound()
        return super().count()

    def exists(self):
        self._refuse_unbound()
        return super().exists()

    def contains(self, obj):
        self._refuse_unbound()
        return super().contains(obj)

    def aggregate(self, *args, **kwargs):
        self._refuse_unbound()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs):
        self._refuse_unbound()
        return super().update(**kwargs)

    def delete(self):
        self._refuse_unbound()
        return super().delete()

    def none(self):
        empty = super().none()
        empty.unbound = False
        return empty


class TenantScopedManager(models.Manager.from_queryset(TenantScopedQuerySet)):
    """Scopes every query to the bound tenant (request or job), so the scoped query is the default one.

    Code still says ``Model.objects.for_tenant(t)``; the automatic filter is the second wall for code
    that forgets, such as django-oauth-toolkit's own lookups. In request code with no tenant bound (a
    platform page, the API before its credential is read) the default query raises ``UnboundTenantQuery``
    when it reaches the database: ``unscoped()`` says where every tenant's rows are meant. Outside
    requests (jobs, commands, migrations) it reads every tenant's rows, as it always did: they bind a
    tenant (``kit.tenancy.tenant_context``) or say ``unscoped()``.
    """

    def get_queryset(self):
        qs = super().get_queryset()
        tenant = get_current_tenant()
        if tenant is not None:
            return qs.filter(tenant=tenant)
        # A related manager (``user.memberships``) is narrowed to the row it hangs from right after this.
        qs.unbound = getattr(self, "instance", None) is None
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

    # Django's uniqueness checks query the default manager: they ask what they asked before, bound or not.
    def validate_unique(self, exclude=None):
        with platform_wide():
            return super().validate_unique(exclude)

    def validate_constraints(self, exclude=None):
        with platform_wide():
            return super().validate_constraints(exclude)
