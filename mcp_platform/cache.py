"""The cache backends: Django's Redis backend reusing one redis-py client per connection pool (production),
and a cache shared by the processes of one machine (the embedded mode, ``EmbeddedCache`` below).

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` for every cache operation, and
redis-py 8 fills a ~170-entry response-callback table in each constructor: about 0.4 ms of CPU per
``cache.get``, more than the Redis round trip itself and, on the token endpoint, more than the SQL
statements the cache was meant to save (bench/README.md). A ``redis.Redis`` bound to a pool is safe
to share between threads and survives fork (the pool reconnects in the child), so one per pool is kept.

The cache is also fail-soft: with Redis unreachable a read is a miss and a write does nothing, so the
token endpoint falls back to the database instead of answering 500 (the cache only ever saves reads).
Short socket timeouts (settings.CACHES) keep a hanging Redis from hanging requests. The price: an
invalidation lost during an outage leaves an entry stale until its TTL (5 minutes) once Redis is back.
"""

import logging
import time

import redis
from diskcache import DjangoCache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import cached_property

log = logging.getLogger(__name__)
UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError)
_last_warning = 0.0


def _warn(operation: str, exc: Exception) -> None:
    global _last_warning
    if time.monotonic() - _last_warning > 10:  # one line per 10 s during an outage, not one per request
        _last_warning = time.monotonic()
        log.warning("cache unavailable (%s: %s); serving from the database", operation, exc)


def _fail_soft(operation: str, fallback):
    def wrap(method):
        def call(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except UNAVAILABLE as exc:
                _warn(operation, exc)
                return fallback(*args, **kwargs) if callable(fallback) else fallback
        return call
    return wrap


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client

    get = _fail_soft("get", lambda key, default=None: default)(RedisCacheClient.get)
    get_many = _fail_soft("get_many", {})(RedisCacheClient.get_many)
    has_key = _fail_soft("has_key", False)(RedisCacheClient.has_key)
    add = _fail_soft("add", False)(RedisCacheClient.add)
    set = _fail_soft("set", None)(RedisCacheClient.set)
    set_many = _fail_soft("set_many", None)(RedisCacheClient.set_many)
    touch = _fail_soft("touch", False)(RedisCacheClient.touch)
    delete = _fail_soft("delete", False)(RedisCacheClient.delete)
    delete_many = _fail_soft("delete_many", None)(RedisCacheClient.delete_many)


class ReusingRedisCache(RedisCache):
    @cached_property
    def _cache(self):
        return ReusingRedisCacheClient(self._servers, **self._options)


class EmbeddedCache(DjangoCache):
    """The cache of the embedded mode (no REDIS_URL): diskcache's SQLite files under ``VAR_DIR/cache``,
    shared by every process of the machine (the web workers, the job runner) as Redis is in production.

    So one coherence mechanism serves both modes: the tenant's generation (kit/tenant_cache.py), the cached
    rows behind it, the rate-limit counters and the job leases live where every worker reads them, and a
    change made in one process is seen by the next request of every other. Measured on the token path in
    bench/README.md. A read that waits longer than ``DATABASE_TIMEOUT`` for a writer is a miss (the caller
    asks the database); writes wait their turn.

    Django closes every cache when a request finishes; for this backend that would reopen the SQLite
    connections (and re-run their pragmas) on every request, so ``close`` keeps them: diskcache already
    opens fresh ones in a forked child.
    """

    def close(self, **kwargs):
        pass
