"""Tenant-owned rows (kit/tenant_owned.py): in request code an unbound query raises; unscoped() says
"every tenant" out loud; outside requests (jobs, commands) the default query is what it always was."""

import pytest
from django.test import RequestFactory

from kit.tenancy import platform_wide, request_code, tenant_context
from kit.tenant_owned import TenantOwned, UnboundTenantQuery
from tenants.middleware import TenantMiddleware
from tenants.models import Membership


def test_an_unbound_query_in_request_code_raises_and_says_what_to_write(two_tenants):
    with request_code(), pytest.raises(UnboundTenantQuery) as refused:
        list(Membership.objects.filter(role="owner"))
    assert "tenants.Membership" in str(refused.value)
    assert "Membership.objects.for_tenant(tenant)" in str(refused.value) and ".unscoped()" in str(refused.value)
    with request_code(), pytest.raises(UnboundTenantQuery):
        Membership.objects.get_or_create(tenant=two_tenants[0].tenant, user=two_tenants[1].member)


def test_an_insert_names_its_tenant_and_needs_no_binding(two_tenants):
    a, b = two_tenants
    with request_code():
        row = Membership.objects.create(tenant=a.tenant, user=b.member)
    assert Membership.objects.unscoped().get(pk=row.pk).tenant_id == a.tenant.pk


def test_unscoped_for_tenant_and_a_bound_tenant_answer_in_request_code(two_tenants):
    a, b = two_tenants
    with request_code():
        assert Membership.objects.unscoped().count() == 8
        assert {m.tenant_id for m in Membership.objects.for_tenant(a.tenant)} == {a.tenant.pk}
        with tenant_context(b.tenant):
            assert {m.tenant_id for m in Membership.objects.all()} == {b.tenant.pk}
        with platform_wide():
            assert Membership.objects.count() == 8


def test_a_related_manager_is_already_narrowed_to_its_row(two_tenants):
    a, _b = two_tenants
    with request_code():
        assert [m.tenant_id for m in a.admin.memberships.all()] == [a.tenant.pk]


def test_model_validation_asks_what_it_asked_before(two_tenants):
    """Uniqueness checks go through the default manager: unbound in request code they still run."""
    from django.core.exceptions import ValidationError

    a, _b = two_tenants
    with request_code(), pytest.raises(ValidationError):
        Membership(tenant=a.tenant, user=a.admin, role="member").validate_constraints()


def test_outside_request_code_the_default_query_is_unfiltered(two_tenants):
    """Jobs and commands: not request code (they bind a tenant or say unscoped() themselves)."""
    assert Membership.objects.count() == 8


def test_the_tenant_middleware_makes_every_request_request_code(two_tenants):
    def view(request):
        return Membership.objects.count()

    with pytest.raises(UnboundTenantQuery):
        TenantMiddleware(view)(RequestFactory().get("/console/"))
    a, _b = two_tenants
    assert TenantMiddleware(view)(RequestFactory().get(f"/t/{a.slug}/x")) == 4


def test_every_tenant_owned_model_gets_the_scoped_manager():
    from django.apps import apps

    owned = [m for m in apps.get_models() if issubclass(m, TenantOwned)]
    assert owned and all(hasattr(m.objects, "unscoped") for m in owned)
    assert all(m._meta.get_field("tenant").related_model._meta.label == "tenants.Tenant" for m in owned)
