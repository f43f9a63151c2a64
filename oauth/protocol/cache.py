"""Cached reads of the token path: the client by its client_id and the MCP resource (with its scopes) that
a client may get tokens for. Measured in bench/README.md: these reads were 3 of the 9 statements of a
client_credentials request.

Invalidation is explicit. A client's entry is deleted when its row is saved or deleted. Allowed
resources are keyed by the tenant's *generation*, which every save or delete of a client, a resource or
a resource scope, and every change of a client's allowed resources, moves: after a change no process can
read an entry written before it. A suspended client or a
disabled resource is refused by the next request, on every server. The TTL only bounds memory.

The cache holds what the database holds: the client's keyed secret digest (kit.crypto), never a
secret.

Each process keeps a copy of these entries in front of Redis, kept fresh by the tenant's
generation (kit/tenant_cache.py): one Redis read per request for all of them.
"""

from __future__ import annotations

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from kit.tenant_cache import forget_tenant, near, request_generation
from mcp_registry import selectors as registry
from mcp_registry.models import MCPResource, ResourceScope, ResourceTool  # signal senders and type hints

from ..models import Application, SigningKey

TTL = 300


def _client_key(tenant_id, client_id: str) -> str:
    return f"oauth:client:{tenant_id}:{client_id}"


def cached_client(tenant, client_id: str) -> Application | None:
    """Keyed by the client itself in Redis: only a change of its own row can make it stale, and that
    change deletes it (client_id never changes) and moves the tenant's generation (the near copies)."""
    return near(tenant.pk, "client", client_id, lambda: _shared_client(tenant, client_id))


def _shared_client(tenant, client_id: str) -> Application | None:
    key = _client_key(tenant.pk, client_id)
    found = cache.get(key)
    if found is None:
        found = Application.objects.for_tenant(tenant).filter(client_id=client_id).first()
        if found is not None:  # misses (unknown client ids) are not cached: they always ask the database
            cache.set(key, found, TTL)
    return found


def permitted_resources(tenant, client_row: Application):
    """The tenant's active resources this client may ask for, decided now (not at registration): a
    pre-registered client's explicit list; for a self-registered client (DCR, CIMD) also every resource
    that admits self-registered clients. The user still consents per resource."""
    explicit = Application.allowed_resources.through.objects.filter(application=client_row).values(
        "mcpresource_id")
    permitted = Q(pk__in=explicit)
    if client_row.is_self_registered:
        permitted |= Q(admits_self_registered=True)
    return registry.active_resources(tenant).filter(permitted)


def allowed_resource(tenant, client_row: Application, canonical_uri: str) -> MCPResource | None:
    """The tenant's active resource at this URI if the client may get tokens for it, scopes prefetched."""
    return near(tenant.pk, "allowed-resource", (client_row.pk, canonical_uri),
                lambda: _shared_allowed_resource(tenant, client_row, canonical_uri))


def _shared_allowed_resource(tenant, client_row: Application, canonical_uri: str) -> MCPResource | None:
    key = f"oauth:resource:{tenant.pk}:{request_generation(tenant.pk)}:{client_row.pk}:{canonical_uri}"
    found = cache.get(key)
    if found is None:
        found = (permitted_resources(tenant, client_row).filter(uri=canonical_uri)
                 .prefetch_related("scopes").first())
        if found is not None:
            cache.set(key, found, TTL)
    return found


@receiver([post_save, post_delete], sender=Application, dispatch_uid="oauth.protocol.cache.client")
def _client_changed(sender, instance, **kwargs):
    if instance.tenant_id is not None:
        key = _client_key(instance.tenant_id, instance.client_id)
        cache.delete(key)
        transaction.on_commit(lambda: cache.delete(key))
        forget_tenant(instance.tenant_id)  # the allowed-resource entries are keyed by client too


@receiver([post_save, post_delete], sender=MCPResource, dispatch_uid="oauth.protocol.cache.resource")
def _resource_changed(sender, instance, **kwargs):
    if instance.tenant_id is not None:
        forget_tenant(instance.tenant_id)
        if kwargs.get("signal") is post_delete:  # it may have been the tenant's default resource (SET NULL)
            from ..config.selectors import forget_tenant_settings

            forget_tenant_settings(instance.tenant_id)


@receiver([post_save, post_delete], sender=ResourceScope, dispatch_uid="oauth.protocol.cache.scope")
def _scope_changed(sender, instance, **kwargs):  # a scope, a tool, or either end of their link
    forget_tenant(instance.tenant_id)


@receiver(m2m_changed, sender=Application.allowed_resources.through, dispatch_uid="oauth.protocol.cache.allowed")
def _allowed_changed(sender, instance, action, **kwargs):
    if action.startswith("post_"):  # instance: the client, or the resource when changed from its side
        forget_tenant(instance.tenant_id)


@receiver([post_save, post_delete], sender=ResourceTool, dispatch_uid="oauth.protocol.cache.tool")
def _tool_changed(sender, instance, **kwargs):  # a resource's mirrored PRM lists its tools' scopes
    _scope_changed(sender, instance, **kwargs)


@receiver(m2m_changed, sender=ResourceTool.required_scopes.through, dispatch_uid="oauth.protocol.cache.tool_scopes")
def _tool_scopes_changed(sender, instance, action, **kwargs):
    if action.startswith("post_"):  # instance: the tool, or the scope when changed from its side
        _scope_changed(sender, instance, **kwargs)


@receiver([post_save, post_delete], sender=SigningKey, dispatch_uid="oauth.protocol.cache.signing_key")
def _signing_key_changed(sender, instance, **kwargs):
    """Every key state change, removal included, moves the generation: the JWKS is rendered under it."""
    forget_tenant(instance.tenant_id)

