"""Tokens and consent react to events of lower apps (tenants): a removed member's and a suspended
tenant's tokens and consents end in the removing or suspending transaction."""

from django.dispatch import receiver

from tenants.signals import membership_removed, tenant_suspended

from .revocation import tenant_access_end
from .services import user_access_end


@receiver(membership_removed, dispatch_uid="oauth.removed_member_access")
def removed_member_access(sender, tenant, user, actor, **kwargs):
    user_access_end(tenant=tenant, user=user, actor=actor, reason="membership_removed",
                    request=kwargs.get("request"))


@receiver(tenant_suspended, dispatch_uid="oauth.suspended_tenant_access")
def suspended_tenant_access(sender, tenant, actor, **kwargs):
    tenant_access_end(tenant=tenant, actor=actor, request=kwargs.get("request"))
