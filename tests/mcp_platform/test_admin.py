"""Django admin for platform operators: every registered model's list renders, and the models whose
writes must go through audited services cannot be added or changed there."""

import pytest
from django.contrib import admin

from audit.admin import ReadOnlyAdmin

pytestmark = pytest.mark.django_db


def test_every_admin_changelist_renders_and_read_only_models_offer_no_add(make_user, signed_in, two_tenants):
    operator = make_user("root@platform.example", is_staff=True, is_superuser=True)
    client = signed_in(operator)
    checked = 0
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        response = client.get(f"/admin/{meta.app_label}/{meta.model_name}/")
        assert response.status_code == 200, f"{meta.label}: {response.status_code}"
        if isinstance(model_admin, ReadOnlyAdmin):
            assert f"/admin/{meta.app_label}/{meta.model_name}/add/" not in response.content.decode(), meta.label
            checked += 1
    assert checked >= 10


def test_the_admin_shows_a_custom_domain_state_but_only_the_dns_check_verifies_it(make_user, signed_in, world):
    from tenants.models import Tenant

    client = signed_in(make_user("root@platform.example", is_staff=True, is_superuser=True))
    page = client.get(f"/admin/tenants/tenant/{world.tenant.pk}/change/").content.decode()
    assert 'name="custom_domain"' in page and 'name="custom_domain_verified"' not in page
    assert "Custom domain verified" in page  # shown, read-only
    assert not Tenant.objects.get(pk=world.tenant.pk).custom_domain_verified
