"""Fault injection: the test's own Redis is stopped in the middle of token traffic and started again.

Redis holds the cache and the rate-limit counters; neither may take the token endpoint down. Tokens keep
being issued from the database while it is gone, and the cache serves again once it is back.
"""

import socket
import subprocess
import time

import pytest
from django.core.cache import cache

from tests.conftest import free_port
from tests.factories import make_agent, make_resource
from tests.oauth.flows import client_credentials

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


class OwnRedis:
    def __init__(self, port: int):
        self.port, self.proc = port, None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail("the test's redis-server did not start")

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def own_redis(settings):
    server = OwnRedis(free_port())
    server.start()
    settings.REDIS_URL = server.url
    settings.CACHES = {"default": {"BACKEND": "mcp_platform.cache.ReusingRedisCache", "LOCATION": server.url,
                                   "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.5}}}
    yield server
    if server.proc.poll() is None:
        server.stop()


def test_tokens_keep_coming_while_redis_is_stopped_and_the_cache_returns_with_it(client, two_tenants, own_redis):
    a, _ = two_tenants
    resource = make_resource(a.tenant, "https://mcp.alpha.example/mcp")
    agent, secret = make_agent(a.tenant, resources=[resource])

    def issue() -> int:
        return client_credentials(client, a.tenant, agent, secret, resource=resource.uri).status_code

    before = [issue() for _ in range(5)]
    assert cache.get("tenants:by-slug:alpha") is not None  # the token path cached its tenant in our Redis
    own_redis.stop()
    started = time.monotonic()
    during = [issue() for _ in range(10)]
    assert time.monotonic() - started < 10  # refused connections, not hanging ones
    own_redis.start()
    after = [issue() for _ in range(5)]
    assert before == [200] * 5 and during == [200] * 10 and after == [200] * 5
    assert cache.get("tenants:by-slug:alpha") is not None  # cached again after the restart
