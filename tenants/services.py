"""Every write to tenants and memberships; each records its audit event in the same transaction."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

import audit
from kit.errors import ApplicationError

from . import domains, signals
from .models import Membership, Role, Tenant, TenantStatus, validate_slug

BRANDING_FIELDS = ("name", "display_name", "logo_url", "accent_color", "default_language")
UPDATABLE_FIELDS = BRANDING_FIELDS + ("custom_domain",)


class TenantServiceError(ApplicationError):
    """A tenant or membership rule refused the change; the message says what to do instead."""


def _validated(instance, exclude=()):
    try:
        instance.full_clean(exclude=list(exclude))
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise TenantServiceError(" ".join(messages), code="invalid", field=field) from exc
    return instance


@transaction.atomic
def tenant_create(*, slug: str, name: str, actor, request=None, owner_email: str = "", **branding) -> Tenant:
    """A new tenant; with ``owner_email`` its first owner, who is sent an invitation."""
    slug = (slug or "").strip()
    try:
        validate_slug(slug)
    except ValidationError as exc:
        raise TenantServiceError(exc.messages[0], code=exc.code, field="slug") from exc
    if Tenant.objects.filter(slug=slug).exists():
        raise TenantServiceError(f"a tenant with slug '{slug}' already exists", code="duplicate", field="slug")
    domain = branding.pop("custom_domain", None)
    tenant = _validated(Tenant(slug=slug, name=name.strip(), **{k: v for k, v in branding.items() if v}))
    tenant.save()
    audit.record(tenant, actor, "tenant.created", tenant, request, slug=slug, name=tenant.name)
    if domain:
        custom_domain_add(tenant=tenant, domain=domain, actor=actor, request=request)
    signals.tenant_created.send(sender=Tenant, tenant=tenant, actor=actor)
    if (owner_email or "").strip():
        membership_add(tenant=tenant, email=owner_email, role=Role.OWNER, actor=actor, request=request, invite=True)
    return tenant


@transaction.atomic
def tenant_update(*, tenant: Tenant, actor, request=None, **changes) -> Tenant:
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise TenantServiceError(f"cannot change {', '.join(sorted(unknown))} here", code="invalid")
    if "custom_domain" in changes:
        domain = changes.pop("custom_domain")
        if (domain or "").strip():
            custom_domain_add(tenant=tenant, domain=domain, actor=actor, request=request)
        else:
            custom_domain_remove(tenant=tenant, actor=actor, request=request)
    changed = {}
    for field, value in changes.items():
        if getattr(tenant, field) != value:
            changed[field] = value
            setattr(tenant, field, value)
    if not changed:
        return tenant
    _validated(tenant, exclude=["slug"])
    tenant.save(update_fields=[*changed, "updated_at"])
    audit.record(tenant, actor, "tenant.updated", tenant, request, changed=sorted(changed))
    return tenant


# Custom domains (tenants/domains.py). A claim is unique only once verified (tenants.models): claiming a
# name another tenant serves is accepted and never says so, it just cannot be verified while the other
# tenant's record holds; a tenant that proves control (its own token in DNS) is told that the name is in use.

def _locked(tenant: Tenant) -> Tenant:
    locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
    for field in ("custom_domain", "custom_domain_verified", "custom_domain_token", "custom_domain_checked_at",
                  "custom_domain_failures"):
        setattr(tenant, field, getattr(locked, field))
    return tenant


_DOMAIN_FIELDS = ["custom_domain", "custom_domain_verified", "custom_domain_token", "custom_domain_checked_at",
                  "custom_domain_failures", "updated_at"]


@transaction.atomic
def custom_domain_add(*, tenant: Tenant, domain: str, actor, request=None) -> Tenant:
    """Claims a domain (replacing any other): not serving until ``custom_domain_verify`` finds its record."""
    try:
        domain = domains.normalise(domain)
    except ValueError as exc:
        raise TenantServiceError(str(exc), field="custom_domain") from exc
    _locked(tenant)
    if tenant.custom_domain == domain:
        return tenant
    previous = tenant.custom_domain
    tenant.custom_domain, tenant.custom_domain_verified = domain, False
    tenant.custom_domain_token, tenant.custom_domain_checked_at = domains.new_token(), None
    tenant.custom_domain_failures = 0
    tenant.save(update_fields=_DOMAIN_FIELDS)
    audit.record(tenant, actor, "tenant.custom_domain_added", tenant, request, domain=domain,
                 replaced=previous or "")
    return tenant


@transaction.atomic
def custom_domain_remove(*, tenant: Tenant, actor, request=None) -> Tenant:
    _locked(tenant)
    if not tenant.custom_domain:
        return tenant
    domain, was_verified = tenant.custom_domain, tenant.custom_domain_verified
    tenant.custom_domain, tenant.custom_domain_verified, tenant.custom_domain_token = None, False, ""
    tenant.custom_domain_checked_at, tenant.custom_domain_failures = None, 0
    tenant.save(update_fields=_DOMAIN_FIELDS)
    audit.record(tenant, actor, "tenant.custom_domain_removed", tenant, request, domain=domain,
                 was_verified=was_verified)
    return tenant


def custom_domain_verify(*, tenant: Tenant, actor, request=None) -> domains.DomainCheck:
    """Asks DNS now (outside any transaction: a slow resolver holds no lock), then records the outcome.

    Found: the domain serves the tenant at once (every process reads it from the database). Not found: a
    pending claim stays pending; a verified one counts a failure and, after CUSTOM_DOMAIN_MAX_FAILURES in a
    row, stops serving. Each outcome is audited."""
    from django.conf import settings
    from django.utils import timezone

    domain, token = tenant.custom_domain, tenant.custom_domain_token
    if not domain:
        raise TenantServiceError("add a custom domain first", code="invalid", field="custom_domain")
    check = domains.check_txt_record(domain, token)
    with transaction.atomic():
        _locked(tenant)
        if (tenant.custom_domain, tenant.custom_domain_token) != (domain, token):
            raise TenantServiceError("the custom domain changed meanwhile; reload and try again", code="conflict",
                              field="custom_domain")
        tenant.custom_domain_checked_at = timezone.now()
        taken = Tenant.objects.filter(custom_domain=domain, custom_domain_verified=True).exclude(pk=tenant.pk)
        if check.found and taken.exists():
            # Only someone who controls the domain's DNS gets here, so saying so tells them nothing new.
            check = domains.DomainCheck(False, f"{domain} is in use by another tenant of this platform; it can be "
                                               "verified here once that use ends")
        if check.found:
            newly = not tenant.custom_domain_verified
            tenant.custom_domain_verified, tenant.custom_domain_failures = True, 0
            try:
                with transaction.atomic():
                    tenant.save(update_fields=_DOMAIN_FIELDS)
            except IntegrityError:  # another tenant's verification of the same name committed first
                check = domains.DomainCheck(False, f"{domain} is in use by another tenant of this platform")
                tenant.custom_domain_verified = False
            else:
                if newly:
                    audit.record(tenant, actor, "tenant.custom_domain_verified", tenant, request, domain=domain)
                return check
        tenant.custom_domain_failures = min(tenant.custom_domain_failures + 1, 32767)
        stops = tenant.custom_domain_verified and \
            tenant.custom_domain_failures >= settings.CUSTOM_DOMAIN_MAX_FAILURES
        if stops:
            tenant.custom_domain_verified = False
        tenant.save(update_fields=_DOMAIN_FIELDS)
        audit.record(tenant, actor, "tenant.custom_domain_check_failed", tenant, request, domain=domain,
                     reason=check.reason, failures=tenant.custom_domain_failures)
        if stops:
            audit.record(tenant, actor, "tenant.custom_domain_unverified", tenant, request, severity="warning",
                         domain=domain, failures=tenant.custom_domain_failures)
    return check


def custom_domains_recheck(*, actor) -> dict:
    """The scheduled re-check of every verified domain (tenants.tasks); a failure in one never stops the rest."""
    checked = failed = 0
    for tenant in Tenant.objects.filter(custom_domain_verified=True).order_by("pk"):
        try:
            found = custom_domain_verify(tenant=tenant, actor=actor).found
        except ApplicationError:  # changed while the sweep ran: its next check is the new claim's
            continue
        checked += 1
        failed += not found
    return {"checked": checked, "failed": failed}


@transaction.atomic
def tenant_suspend(*, tenant: Tenant, actor, reason: str, request=None) -> Tenant:
    if tenant.status == TenantStatus.SUSPENDED:
        return tenant
    reason = (reason or "").strip()
    if not reason:
        raise TenantServiceError("give a reason: it is shown to every caller of the suspended tenant", field="reason")
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
        raise TenantServiceError(f"unknown role '{role}'; use one of {', '.join(Role.values)}", field="role")
    return role


def _check_actor_may_assign(actor_membership, role: str, current: str | None = None):
    """Only owners hand out or take away ownership. ``actor_membership`` is the actor's Membership or
    tenants.authority.Authority (a management token acts with its creator's role); platform staff and
    the platform itself act with neither."""
    if actor_membership is None:
        return
    if Role.OWNER in (role, current) and actor_membership.role != Role.OWNER:
        raise TenantServiceError("only an owner can grant or change the owner role", code="forbidden", field="role")


def _check_not_last_owner(membership: Membership, action: str):
    if membership.role != Role.OWNER:
        return
    # Lock the owner rows themselves (``.count()`` would drop FOR UPDATE): a concurrent demotion waits
    # here, then re-reads the rows and sees one owner fewer. Ordered, so two lockers never deadlock.
    owners = list(Membership.objects.for_tenant(membership.tenant).filter(role=Role.OWNER).order_by("pk")
                  .select_for_update().values_list("pk", flat=True))
    if len(owners) <= 1:
        raise TenantServiceError(f"cannot {action} the last owner of '{membership.tenant.slug}'; make someone else "
                          "owner first", code="last_owner")


@transaction.atomic
def membership_add(*, tenant: Tenant, email: str, role: str, actor, actor_membership=None,
                   request=None, invite: bool = False) -> Membership:
    """Adds a user by e-mail; a new address gets an account with no password. With ``invite`` (the console,
    the API, a tenant's first owner) identity e-mails them an invitation, through which they set a
    password or sign in with the tenant's SSO; a sign-in that provisions them (SSO JIT) needs none."""
    _check_role(role)
    _check_actor_may_assign(actor_membership, role)
    email = get_user_model().objects.normalize_email((email or "").strip()).lower()
    try:
        get_user_model()._meta.get_field("email").run_validators(email)
    except ValidationError as exc:
        raise TenantServiceError(f"'{email}' is not a valid e-mail address", field="email") from exc
    User = get_user_model()
    user = User.objects.filter(email__iexact=email).first()
    created_user = user is None
    if created_user:
        user = User.objects.create_user(email=email, password=None)
    if Membership.objects.for_tenant(tenant).filter(user=user).exists():
        raise TenantServiceError(f"{email} is already a member of '{tenant.slug}'", code="duplicate", field="email")
    membership = Membership.objects.create(tenant=tenant, user=user, role=role)
    # Whether the address already had an account is not this tenant's to know: the tenant's chain says who
    # was added, the platform chain says that an account was created.
    audit.record(tenant, actor, "membership.added", membership, request, email=email, role=role)
    if created_user:
        audit.record(None, actor, "user.created", user, request, tenant_slug=tenant.slug, via="membership")
    signals.membership_added.send(sender=Membership, membership=membership, actor=actor, request=request,
                                  invite=invite)
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
