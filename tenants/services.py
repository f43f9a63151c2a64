"""Every write to tenants and memberships; each records its audit event in the same transaction."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

import audit

from . import signals
from .errors import TenantError
from .models import Membership, Role, Tenant, TenantStatus, validate_slug

BRANDING_FIELDS = ("name", "display_name", "logo_url", "accent_color")
UPDATABLE_FIELDS = BRANDING_FIELDS + ("custom_domain",)


def _validated(instance, exclude=()):
    try:
        instance.full_clean(exclude=list(exclude))
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise TenantError(" ".join(messages), code="invalid", field=field) from exc
    return instance


@transaction.atomic
def tenant_create(*, slug: str, name: str, actor, request=None, **branding) -> Tenant:
    slug = (slug or "").strip()
    try:
        validate_slug(slug)
    except ValidationError as exc:
        raise TenantError(exc.messages[0], code=exc.code, field="slug") from exc
    if Tenant.objects.filter(slug=slug).exists():
        raise TenantError(f"a tenant with slug '{slug}' already exists", code="duplicate", field="slug")
    tenant = _validated(Tenant(slug=slug, name=name.strip(), **{k: v for k, v in branding.items() if v}))
    tenant.save()
    audit.record(tenant, actor, "tenant.created", tenant, request, slug=slug, name=tenant.name)
    signals.tenant_created.send(sender=Tenant, tenant=tenant, actor=actor)
    return tenant


@transaction.atomic
def tenant_update(*, tenant: Tenant, actor, request=None, **changes) -> Tenant:
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise TenantError(f"cannot change {', '.join(sorted(unknown))} here", code="invalid")
    changed = {}
    for field, value in changes.items():
        if field == "custom_domain":
            value = (value or "").strip().lower() or None
        if getattr(tenant, field) != value:
            changed[field] = value
            setattr(tenant, field, value)
            if field == "custom_domain":
                tenant.custom_domain_verified = False  # a new domain must be proven again
    if not changed:
        return tenant
    _validated(tenant, exclude=["slug"])
    try:
        with transaction.atomic():
            tenant.save()
    except IntegrityError as exc:
        # Only verified domains are unique (tenants.models), so this is a race on this very row, not a
        # statement about other tenants.
        raise TenantError("the tenant changed meanwhile; reload and try again", code="duplicate",
                          field="custom_domain") from exc
    audit.record(tenant, actor, "tenant.updated", tenant, request, changed=sorted(changed))
    return tenant


@transaction.atomic
def tenant_suspend(*, tenant: Tenant, actor, reason: str, request=None) -> Tenant:
    if tenant.status == TenantStatus.SUSPENDED:
        return tenant
    reason = (reason or "").strip()
    if not reason:
        raise TenantError("give a reason: it is shown to every caller of the suspended tenant", field="reason")
    tenant.status, tenant.suspended_reason = TenantStatus.SUSPENDED, reason[:300]
    tenant.save(update_fields=["status", "suspended_reason", "updated_at"])
    audit.record(tenant, actor, "tenant.suspended", tenant, request, severity="warning", reason=reason)
    signals.tenant_suspended.send(sender=Tenant, tenant=tenant, actor=actor, request=request)
    return tenant


@transaction.atomic
def tenant_reactivate(*, tenant: Tenant, actor, request=None) -> Tenant:
    if tenant.status == TenantStatus.ACTIVE:
        return tenant
    tenant.status, tenant.suspended_reason = TenantStatus.ACTIVE, ""
    tenant.save(update_fields=["status", "suspended_reason", "updated_at"])
    audit.record(tenant, actor, "tenant.reactivated", tenant, request)
    return tenant


def _check_role(role: str) -> str:
    if role not in Role.values:
        raise TenantError(f"unknown role '{role}'; use one of {', '.join(Role.values)}", field="role")
    return role


def _check_actor_may_assign(actor_membership, role: str, current: str | None = None):
    """Only owners hand out or take away ownership. ``actor_membership`` is the actor's Membership or
    tenants.authority.Authority (a management token acts with its creator's role); platform staff and
    the platform itself act with neither."""
    if actor_membership is None:
        return
    if Role.OWNER in (role, current) and actor_membership.role != Role.OWNER:
        raise TenantError("only an owner can grant or change the owner role", code="forbidden", field="role")


def _check_not_last_owner(membership: Membership, action: str):
    if membership.role != Role.OWNER:
        return
    # Lock the owner rows themselves (``.count()`` would drop FOR UPDATE): a concurrent demotion waits
    # here, then re-reads the rows and sees one owner fewer. Ordered, so two lockers never deadlock.
    owners = list(Membership.objects.for_tenant(membership.tenant).filter(role=Role.OWNER).order_by("pk")
                  .select_for_update().values_list("pk", flat=True))
    if len(owners) <= 1:
        raise TenantError(f"cannot {action} the last owner of '{membership.tenant.slug}'; make someone else "
                          "owner first", code="last_owner")


@transaction.atomic
def membership_add(*, tenant: Tenant, email: str, role: str, actor, actor_membership=None,
                   request=None) -> Membership:
    """Adds a user by e-mail; a new address gets an account with no password (SSO or reset sets one)."""
    _check_role(role)
    _check_actor_may_assign(actor_membership, role)
    email = get_user_model().objects.normalize_email((email or "").strip()).lower()
    try:
        get_user_model()._meta.get_field("email").run_validators(email)
    except ValidationError as exc:
        raise TenantError(f"'{email}' is not a valid e-mail address", field="email") from exc
    User = get_user_model()
    user = User.objects.filter(email__iexact=email).first()
    created_user = user is None
    if created_user:
        user = User.objects.create_user(email=email, password=None)
    if Membership.objects.for_tenant(tenant).filter(user=user).exists():
        raise TenantError(f"{email} is already a member of '{tenant.slug}'", code="duplicate", field="email")
    membership = Membership.objects.create(tenant=tenant, user=user, role=role)
    # Whether the address already had an account is not this tenant's to know: the tenant's chain says who
    # was added, the platform chain says that an account was created.
    audit.record(tenant, actor, "membership.added", membership, request, email=email, role=role)
    if created_user:
        audit.record(None, actor, "user.created", user, request, tenant_slug=tenant.slug, via="membership")
    return membership


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str, actor, actor_membership=None,
                           request=None) -> Membership:
    _check_role(role)
    _check_actor_may_assign(actor_membership, role, membership.role)
    if membership.role == role:
        return membership
    if role != Role.OWNER:
        _check_not_last_owner(membership, "demote")
    old = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit.record(membership.tenant, actor, "membership.role_changed", membership, request,
                 email=membership.user.email, old_role=old, role=role)
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor, actor_membership=None, request=None) -> None:
    _check_actor_may_assign(actor_membership, Role.MEMBER, membership.role)
    _check_not_last_owner(membership, "remove")
    tenant, user = membership.tenant, membership.user
    audit.record(tenant, actor, "membership.removed", membership, request, email=user.email,
                 role=membership.role)
    membership.delete()
    signals.membership_removed.send(sender=Membership, tenant=tenant, user=user, actor=actor, request=request)
