"""Reads of tenants and memberships."""

from __future__ import annotations

from django.db.models import Count, Q

from .models import CONSOLE_ROLES, Membership, Role, Tenant


def tenant_by_slug(slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()


def tenant_by_domain(host: str) -> Tenant | None:
    return Tenant.objects.filter(custom_domain=host.lower(), custom_domain_verified=True).first()


def tenants_for_platform(*, search: str = ""):
    qs = Tenant.objects.annotate(member_count=Count("tenants_membership_set", distinct=True))
    if search:
        qs = qs.filter(Q(slug__icontains=search) | Q(name__icontains=search))
    return qs.order_by("slug")


def membership_of(user, tenant: Tenant) -> Membership | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Membership.objects.for_tenant(tenant).filter(user=user).select_related("tenant").first()


def console_memberships(user):
    """The tenants a user can administer or audit, for the tenant switcher."""
    return (Membership.objects.unscoped().filter(user=user, role__in=CONSOLE_ROLES)
            .select_related("tenant").order_by("tenant__slug"))


def members_of(tenant: Tenant, *, search: str = "", role: str = ""):
    qs = Membership.objects.for_tenant(tenant).select_related("user")
    if search:
        qs = qs.filter(user__email__icontains=search)
    if role in Role.values:
        qs = qs.filter(role=role)
    return qs.order_by("created_at")
