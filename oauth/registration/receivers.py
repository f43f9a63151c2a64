"""Connected when the oauth app is ready: registration's fields in the tenant's discovery metadata, its
answers to what the protocol asks of it (oauth/protocol/registration_hooks.py), and the tenant's generation
moved when its policy changes (the metadata is rendered under it, kit/tenant_cache.py)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from kit.tenant_cache import forget_tenant

from ..protocol import registration_hooks
from ..protocol.endpoints.discovery import register_metadata_contributor
from . import cimd
from .endpoints import discovery_fields, held_response, trust_signals
from .models import RegistrationPolicy

register_metadata_contributor(discovery_fields)
registration_hooks.install(cimd_client=cimd.cimd_client, fetch_document=cimd.fetch, held_response=held_response,
                           trust_signals=trust_signals)


@receiver([post_save, post_delete], sender=RegistrationPolicy, dispatch_uid="oauth.registration.policy_changed")
def _policy_changed(sender, instance, **kwargs):
    forget_tenant(instance.tenant_id)  # the metadata names the registration endpoint per the policy
