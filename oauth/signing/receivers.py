"""A new tenant gets its first signing key, in the creating transaction (tenants.signals.tenant_created
is sent inside it)."""

from django.dispatch import receiver

from tenants.signals import tenant_created

from ..models import KeyState
from .services import signing_key_create


@receiver(tenant_created, dispatch_uid="oauth.first_signing_key")
def first_signing_key(sender, tenant, actor, **kwargs):
    signing_key_create(tenant=tenant, actor=actor, state=KeyState.ACTIVE)
