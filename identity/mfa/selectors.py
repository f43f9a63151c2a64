"""Reads: a person's factors, a tenant's policy, who must have a second factor."""

from __future__ import annotations

from django.conf import settings

from tenants.models import ADMIN_ROLES, Membership

from .models import MfaPolicy, Passkey, RecoveryCode, Rule, TotpDevice


def totp_devices_of(user):
    return TotpDevice.objects.filter(user=user)


def passkeys_of(user):
    return Passkey.objects.filter(user=user)


def unused_recovery_codes_of(user):
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True)


def has_factor(user) -> bool:
    return totp_devices_of(user).exists() or passkeys_of(user).exists()


def factor_of(user, factor_id):
    """The person's own TOTP device or passkey with this id, or None (another person's is None too)."""
    return (totp_devices_of(user).filter(pk=factor_id).first() or passkeys_of(user).filter(pk=factor_id).first())


def rule_of(tenant) -> str:
    if tenant is None:
        return Rule.OFF
    return MfaPolicy.objects.for_tenant(tenant).values_list("rule", flat=True).first() or Rule.OFF


def rule_applies(rule: str, role: str) -> bool:
    return rule == Rule.EVERYONE or (rule == Rule.ADMINS and role in ADMIN_ROLES)


def second_factor_required(user, *, tenant=None) -> bool:
    """Whether policy says this person must have a second factor: at ``tenant`` (a tenant sign-in or
    console page), or anywhere they administer (the console sign-in); platform operators in production."""
    if user.is_staff and settings.IS_PRODUCTION:
        return True
    memberships = Membership.objects.unscoped().filter(user=user)
    if tenant is not None:
        memberships = memberships.filter(tenant=tenant)
    policies = dict(MfaPolicy.objects.unscoped().filter(tenant_id__in=memberships.values("tenant_id"))
                    .values_list("tenant_id", "rule"))
    return any(rule_applies(policies.get(tenant_id, Rule.OFF), role)
               for tenant_id, role in memberships.values_list("tenant_id", "role"))
