"""A tenant's configuration generation, and the per-process copies of cached rows it keeps fresh.

The hot protocol paths (token, introspection) read the same few rows of a tenant on every request: the
tenant, the client, the resource it may get tokens for, the active signing key, the token settings.
Redis holds them (each app's own cache module); in front of Redis each process keeps a copy (``near``),
keyed by the tenant's *generation*: a random value in Redis that every change of such a row replaces
(``forget_tenant``, now and again after commit). A request reads the generation once
(``request_generation``), so a warm request costs one Redis round trip for all of them, and a change on
any server is seen by the next request on every server.

Outside a request (jobs, shells) the generation is read at every lookup: a job can hold a tenant across
a loop, a generation read from Redis cannot go stale that way. Without Redis (the embedded mode) the
cache, and so the generation, is a SQLite file every process of the machine shares
(mcp_platform.cache.EmbeddedCache): the same mechanism, so a change made in one web worker applies to
the next request in the others.
"""

from __future__ import annotations

import copy
import uuid
from contextlib import contextmanager
from contextvars import ContextVar

from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import transaction
from django.db.models import Model
from django.dispatch import receiver

NEAR_MAX_ENTRIES = 10_000  # per process; cleared whole when full (a miss costs one Redis read)

# Generations read during the current request, by tenant id; None outside a request (never remembered).
_request_generations: ContextVar[dict | None] = ContextVar("tenant_request_generations", default=None)
_near: dict[tuple, tuple[str, object]] = {}


def _generation_key(tenant_id) -> str:
    return f"tenants:gen:{tenant_id}"


def generation(tenant_id) -> str:
    key = _generation_key(tenant_id)
    current = cache.get(key)
    if current is None:
        current = uuid.uuid4().hex
        if not cache.add(key, current, None):
            current = cache.get(key) or current
    return current


def forget_tenant(tenant_id) -> None:
    """A new generation now and again after commit (a request may have cached the old rows meanwhile)."""
    cache.delete(_generation_key(tenant_id))
    transaction.on_commit(lambda: cache.delete(_generation_key(tenant_id)))


@receiver(request_started, dispatch_uid="kit.tenant_cache.request_started")
def _request_started(sender, **kwargs):
    _request_generations.set({})


@receiver(request_finished, dispatch_uid="kit.tenant_cache.request_finished")
def _request_finished(sender, **kwargs):
    _request_generations.set(None)


@contextmanager
def generation_scope():
    """A request served outside Django (mcp_platform/documents.py): its generations read once, like one
    of Django's requests."""
    token = _request_generations.set({})
    try:
        yield
    finally:
        _request_generations.reset(token)


def request_generation(tenant_id) -> str:
    """The tenant's generation, read from Redis once per request (at every call outside requests)."""
    seen = _request_generations.get()
    if seen is None:
        return generation(tenant_id)
    current = seen.get(tenant_id)
    if current is None:
        current = seen[tenant_id] = generation(tenant_id)
    return current


def generation_pipelined(tenant_id, queue) -> list | None:
    """Inside a ``generation_scope``: the tenant's generation read in one Redis round trip together with
    the commands ``queue(pipeline)`` adds (the lean protocol path's rate-limit counter), and remembered for
    the scope as ``request_generation`` would. Returns those commands' results; None without the Redis
    cache or when Redis does not answer, and the caller then goes the ordinary way (Django).

    It reaches into Django's Redis backend for its client, key function and serializer (``_cache``): the
    backend has no public pipeline, and the value must be read exactly as ``cache.get`` reads it."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache
    from redis import RedisError

    backend = caches["default"]  # the backend itself (``cache`` is a proxy to it)
    seen = _request_generations.get()
    if seen is None or not isinstance(backend, RedisCache):
        return None
    key = backend.make_and_validate_key(_generation_key(tenant_id))
    try:
        pipe = backend._cache.get_client(key, write=True).pipeline(transaction=False)
        pipe.get(key)
        queue(pipe)
        raw, *results = pipe.execute()
    except (RedisError, OSError):
        return None
    seen[tenant_id] = backend._cache._serializer.loads(raw) if raw is not None else generation(tenant_id)
    return results


def near(tenant_id, kind: str, key, load):
    """``load()``, remembered in this process until the tenant's generation moves. Model instances are
    handed out as copies, so a caller setting attributes on one cannot leak them into the next request.
    A None from ``load`` is not remembered (an unknown client id asks again every time)."""
    gen = request_generation(tenant_id)
    entry = _near.get((tenant_id, kind, key))
    if entry is not None and entry[0] == gen:
        value = entry[1]
    else:
        value = load()
        if value is None:
            return None
        if len(_near) >= NEAR_MAX_ENTRIES:
            _near.clear()
        _near[(tenant_id, kind, key)] = (gen, value)
    return copy.copy(value) if isinstance(value, Model) else value
