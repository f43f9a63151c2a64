"""oauth's reactions to events of lower apps (tenants): a new tenant gets its first signing key, in the
creating transaction (tenants.signals.tenant_created is sent inside it); a removed member's and a
suspended tenant's tokens and consents end in the removing or suspending transaction."""

from django.dispatch import receiver

from tenants.signals import membership_removed, tenant_created, tenant_suspended

from .models import KeyState
from .revocation import tenant_access_end
from .services import signing_key_create, user_access_end


@receiver(tenant_created, dispatch_uid="oauth.first_signing_key")
def first_signing_key(sender, tenant, actor, **kwargs):
    signing_key_create(tenant=tenant, actor=actor, state=KeyState.ACTIVE)


@receiver(membership_removed, dispatch_uid="oauth.removed_member_access")
def removed_member_access(sender, tenant, user, actor, **kwargs):
    user_access_end(tenant=tenant, user=user, actor=actor, reason="membership_removed",
                    request=kwargs.get("request"))


@receiver(tenant_suspended, dispatch_uid="oauth.suspended_tenant_access")
def suspended_tenant_access(sender, tenant, actor, **kwargs):
    tenant_access_end(tenant=tenant, actor=actor, request=kwargs.get("request"))
