"""Reads of tenants and memberships."""

from __future__ import annotations

import re

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from kit.tenant_cache import NEAR_MAX_ENTRIES, forget_tenant, near

from .models import CONSOLE_ROLES, SLUG_PATTERN, Membership, Role, Tenant

# Every request under /t/<slug>/ resolves its tenant: cached (bench/README.md: one statement of each
# token request), dropped whenever the tenant row is saved or deleted, so a suspension bites at once.
TENANT_CACHE_TTL = 300
SLUG_MAX = Tenant._meta.get_field("slug").max_length
_SLUG = re.compile(SLUG_PATTERN)


def _slug_key(slug: str) -> str:
    return f"tenants:by-slug:{slug}"


# slug -> tenant id, per process: which tenant's generation to read before trusting its near copy.
_tenant_ids_by_slug: dict[str, object] = {}


def known_tenant_id(slug: str):
    """The id this process last resolved ``slug`` to, or None: what the lean protocol path (oauth/lean)
    needs to read the tenant's generation before the tenant itself, which tenant_by_slug then checks."""
    return _tenant_ids_by_slug.get(slug)


def tenant_by_slug(slug: str) -> Tenant | None:
    if not slug or len(slug) > SLUG_MAX or not _SLUG.fullmatch(slug):
        return None  # not a slug at all (a NUL, a surrogate): no cache key, no query
    tenant_id = _tenant_ids_by_slug.get(slug)
    if tenant_id is None:
        found = _shared_tenant_by_slug(slug)
        if found is None:
            return None
        if len(_tenant_ids_by_slug) >= NEAR_MAX_ENTRIES:
            _tenant_ids_by_slug.clear()
        _tenant_ids_by_slug[slug] = tenant_id = found.pk
    # The one Redis read of a warm request (the tenant's generation), shared with the lookups after it.
    tenant = near(tenant_id, "tenant", None, lambda: _shared_tenant_by_slug(slug))
    if tenant is not None and tenant.pk == tenant_id and tenant.slug == slug:
        return tenant
    _tenant_ids_by_slug.pop(slug, None)  # renamed or deleted since: ask again, remember nothing
    return _shared_tenant_by_slug(slug)


def _shared_tenant_by_slug(slug: str) -> Tenant | None:
    tenant = cache.get(_slug_key(slug))
    if tenant is None:
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is not None:  # unknown slugs are not cached: nobody can fill the cache with them
            cache.set(_slug_key(slug), tenant, TENANT_CACHE_TTL)
    return tenant


@receiver([post_save, post_delete], sender=Tenant, dispatch_uid="tenants.forget_cached_tenant")
def forget_cached_tenant(sender, instance, **kwargs):
    """Now and after commit (a request may have cached the old row while the transaction ran)."""
    key = _slug_key(instance.slug)
    cache.delete(key)
    transaction.on_commit(lambda: cache.delete(key))
    forget_tenant(instance.pk)  # every process's near copy of it (kit/tenant_cache.py)


def tenant_by_domain(host: str) -> Tenant | None:
    return Tenant.objects.filter(custom_domain=host.lower(), custom_domain_verified=True).first()


def tenants_for_platform(*, search: str = ""):
    qs = Tenant.objects.annotate(member_count=Count("tenants_membership_set", distinct=True))
    if search:
        qs = qs.filter(Q(slug__icontains=search) | Q(name__icontains=search))
    return qs.order_by("slug")


def bound_tenant_id(user):
    """The tenant a user's session is bound to, or None for a platform-wide session.

    A session opened through a tenant's own identity provider is worth something at that tenant only: that
    tenant's administrators control the provider and could otherwise assert a person who is also a member
    elsewhere. identity's SessionTenantBindingMiddleware sets the attribute from the session.
    """
    return getattr(user, "bound_tenant_id", None)


def is_operator(user) -> bool:
    """A platform operator acting as one: active staff whose session no tenant's identity provider opened
    (a tenant's administrators control their provider and could make it assert an operator's address)."""
    return (bool(getattr(user, "is_authenticated", False)) and user.is_active and user.is_staff
            and bound_tenant_id(user) is None)


def session_counts_at(user, tenant: Tenant) -> bool:
    """Whether the signed-in user's session counts at ``tenant``: platform-wide, or bound to it."""
    return bool(getattr(user, "is_authenticated", False)) and bound_tenant_id(user) in (None, tenant.pk)


def membership_of(user, tenant: Tenant) -> Membership | None:
    if not session_counts_at(user, tenant):
        return None
    return Membership.objects.for_tenant(tenant).filter(user=user).select_related("tenant").first()


def member_by_email(tenant: Tenant, email: str):
    """The member of ``tenant`` with this e-mail address, or None. Tenant pages look people up here only:
    an account that exists elsewhere on the platform is not found, exactly like one that does not exist."""
    email = (email or "").strip()
    if not email:
        return None
    membership = (Membership.objects.for_tenant(tenant).filter(user__email__iexact=email).select_related("user")
                  .first())
    return membership.user if membership else None


def console_memberships(user):
    """The tenants a user can administer or audit, for the tenant switcher."""
    qs = Membership.objects.unscoped().filter(user=user, role__in=CONSOLE_ROLES)
    if bound_tenant_id(user) is not None:
        qs = qs.filter(tenant_id=bound_tenant_id(user))
    return qs.select_related("tenant").order_by("tenant__slug")


def members_of(tenant: Tenant, *, search: str = "", role: str = ""):
    qs = Membership.objects.for_tenant(tenant).select_related("user")
    if search:
        qs = qs.filter(user__email__icontains=search)
    if role in Role.values:
        qs = qs.filter(role=role)
    return qs.order_by("created_at")
