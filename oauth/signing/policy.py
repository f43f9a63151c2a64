"""The per-tenant signing-key rotation policy (the engine that applies it is oauth/signing/rotation.py).

A model of the oauth app kept beside the signing code; oauth/apps.py imports it while Django loads the
app's models, so oauth/models.py does not import the signing package (which imports it).
"""

from django.core.validators import MinValueValidator
from django.db import models

from kit.tenant_owned import TenantOwned

DAY = 24 * 3600


class KeyRotationPolicy(TenantOwned):
    """When a tenant's signing keys move through next -> active -> retired -> removed.

    - ``rotation_interval``: how long a key signs before its successor takes over.
    - ``lead_time``: how long the successor is published in the JWKS before it signs; at least the JWKS
      cache lifetime, so every resource server that caches the key set has seen it in time.
    - ``removal_grace``: how long a retired key stays published after the last token it signed expired
      (resource servers accept tokens a little past ``exp`` for clock skew).

    The algorithm of new keys is the tenant's ``signing_alg`` (TenantAuthSettings), not repeated here.
    """

    enabled = models.BooleanField(default=True, help_text="Rotate on schedule (manual rotation always works).")
    rotation_interval = models.PositiveIntegerField(
        default=90 * DAY, validators=[MinValueValidator(1)], help_text="Seconds a key signs before rotation.")
    lead_time = models.PositiveIntegerField(
        default=DAY, validators=[MinValueValidator(1)],
        help_text="Seconds the next key is published before it signs (>= the JWKS cache lifetime).")
    removal_grace = models.PositiveIntegerField(
        default=300, help_text="Seconds a retired key stays published after its last token expired.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="keyrotationpolicy_tenant")]

    def __str__(self):
        return f"key rotation policy of {self.tenant_id}"
