"""Reads of a tenant's signing keys."""

from __future__ import annotations

from ..models import KeyState, SigningKey


def signing_keys_of(tenant, *, include_removed: bool = False):
    qs = SigningKey.objects.for_tenant(tenant).order_by("-created_at")
    return qs if include_removed else qs.exclude(state=KeyState.REMOVED)
