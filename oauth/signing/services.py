"""Every write to a tenant's signing keys: creation, rotation, removal (audited in the same transaction)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

import audit

from ..config.services import tenant_auth_settings
from ..errors import OAuthServiceError
from ..models import KeyState, SigningKey
from . import keys


def _key_create(*, tenant, alg: str, state: str) -> SigningKey:
    kid, private, public = keys.generate(alg)
    now = timezone.now()
    return SigningKey.objects.create(tenant=tenant, kid=kid, alg=alg, state=state, private_key=private,
                                     public_jwk=public, activated_at=now if state == KeyState.ACTIVE else None)


@transaction.atomic
def signing_key_create(*, tenant, actor, alg: str | None = None, state: str = KeyState.NEXT,
                       request=None) -> SigningKey:
    alg = alg or tenant_auth_settings(tenant).signing_alg
    if state == KeyState.ACTIVE and SigningKey.objects.for_tenant(tenant).filter(state=KeyState.ACTIVE).exists():
        raise OAuthServiceError("the tenant already has an active key: rotate instead")
    key = _key_create(tenant=tenant, alg=alg, state=state)
    audit.record(tenant, actor, "key.created", key, request, kid=key.kid, alg=alg, state=state)
    keys.forget_active_key(tenant.pk)
    return key


@transaction.atomic
def key_rotate(*, tenant, actor, alg: str | None = None, request=None) -> SigningKey:
    """next -> active, active -> retired, and a fresh next key is published for the rotation after.

    Without a next key of the wanted algorithm one is made and activated at once; clients that cached the
    JWKS then refetch it on the unknown kid (mcp_guard does), which is why a next key is kept ready.
    """
    alg = alg or tenant_auth_settings(tenant).signing_alg
    scoped = SigningKey.objects.for_tenant(tenant).select_for_update()
    now = timezone.now()
    promoted = scoped.filter(state=KeyState.NEXT, alg=alg).order_by("created_at").first()
    if promoted is None:
        promoted = _key_create(tenant=tenant, alg=alg, state=KeyState.NEXT)
    previous = list(scoped.filter(state=KeyState.ACTIVE).values_list("kid", flat=True))
    scoped.filter(state=KeyState.ACTIVE).update(state=KeyState.RETIRED, retired_at=now)
    promoted.state, promoted.activated_at = KeyState.ACTIVE, now
    promoted.save(update_fields=["state", "activated_at"])
    if not scoped.filter(state=KeyState.NEXT).exists():
        _key_create(tenant=tenant, alg=alg, state=KeyState.NEXT)
    audit.record(tenant, actor, "key.rotated", promoted, request, kid=promoted.kid, alg=alg, retired=previous)
    keys.forget_active_key(tenant.pk)
    return promoted


@transaction.atomic
def key_remove(*, key: SigningKey, actor, request=None) -> SigningKey:
    """A retired key leaves the JWKS: tokens it signed stop verifying."""
    if key.state != KeyState.RETIRED:
        raise OAuthServiceError("only retired keys can be removed; rotate the active key first")
    key.state, key.removed_at = KeyState.REMOVED, timezone.now()
    key.save(update_fields=["state", "removed_at"])
    audit.record(key.tenant, actor, "key.removed", key, request, kid=key.kid)
    return key
