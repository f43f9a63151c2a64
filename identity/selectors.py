from __future__ import annotations

from django.contrib.auth import get_user_model

from tenants.models import CONSOLE_ROLES, Membership

from .models import FederatedIdentity, IdentityProvider


def user_by_email(email: str):
    return get_user_model().objects.filter(email__iexact=(email or "").strip()).first()


def _domain(email: str) -> str:
    email = (email or "").strip().lower()
    return email.rsplit("@", 1)[1] if "@" in email else ""


def identity_providers_of(tenant, *, enabled_only: bool = False):
    qs = IdentityProvider.objects.for_tenant(tenant)
    return qs.filter(enabled=True) if enabled_only else qs


def identity_provider_by_slug(tenant, slug: str) -> IdentityProvider | None:
    return IdentityProvider.objects.for_tenant(tenant).select_related("tenant").filter(slug=slug).first()


def identity_provider_for_email(tenant, email: str) -> IdentityProvider | None:
    """Home-realm discovery: the enabled provider of this tenant that owns the address's domain."""
    domain = _domain(email)
    if not domain:
        return None
    # A tenant has a handful of providers; matching in Python keeps this working on SQLite too.
    return next((idp for idp in identity_providers_of(tenant, enabled_only=True) if idp.owns_domain(domain)), None)


def sso_required_for(tenant, email: str) -> IdentityProvider | None:
    """The provider whose "require SSO" switch refuses this address's password sign-in at this tenant."""
    idp = identity_provider_for_email(tenant, email)
    return idp if idp is not None and idp.sso_required else None


def console_sso_requirement(user) -> list[IdentityProvider]:
    """Providers that must sign this person in before the console: one per tenant they administer,
    when every such tenant requires SSO for their domain. Operators always keep their password, and one
    tenant that does not require SSO keeps it too: no tenant admin can lock a person out of another."""
    if user is None or user.is_staff:
        return []
    tenants = [m.tenant for m in Membership.objects.unscoped().filter(user=user, role__in=CONSOLE_ROLES)
               .select_related("tenant")]
    required = [sso_required_for(tenant, user.email) for tenant in tenants]
    return required if required and all(required) else []


def federated_identities_of(tenant, *, identity_provider=None, user_email: str = ""):
    qs = FederatedIdentity.objects.for_tenant(tenant).select_related("user", "identity_provider")
    if identity_provider is not None:
        qs = qs.filter(identity_provider=identity_provider)
    if user_email:
        qs = qs.filter(user__email__iexact=user_email.strip())
    return qs.order_by("-last_sign_in_at", "email")
