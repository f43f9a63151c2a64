"""Test infrastructure: real PostgreSQL, Redis, Celery worker and Chromium.

Under CI=true a missing service fails the run instead of skipping tests.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests import factories
from tests.factories import PASSWORD  # noqa: F401  (re-exported for tests written before tests/factories.py)

# Playwright's sync API keeps an event loop in the test thread; Django's async-safety check would then
# refuse ORM calls made by the test itself. The tests are synchronous, so this is safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"
# Set by test.sh for its embedded lane only (SQLite, no Redis, -m embedded): see pytest_sessionstart.
EMBEDDED_LANE = os.environ.get("EMBEDDED_LANE") == "1"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_service(name: str, reason: str):
    """The suite tests real parts: a missing service is a failure, never a silent skip."""
    pytest.fail(f"{name} is required: {reason}")


def free_port() -> int:
    """A free TCP port on loopback for a server the test starts (uvicorn, node, redis-server, ...)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_platform(env: dict, port: int, log_path: Path, *serve_args: str, web_workers: int = 1) -> subprocess.Popen:
    """Migrates, collects static files and seeds the demo tenant with ``env``, starts ``manage.py serve``
    on ``port`` with ``web_workers`` web processes, in its own process group, and waits for /healthz;
    fails the test with the log otherwise."""
    import httpx

    root = Path(__file__).resolve().parent.parent
    manage = [sys.executable, "manage.py"]
    for step in (["migrate", "--noinput", "-v0"], ["collectstatic", "--noinput", "-v0"], ["seed_demo"]):
        subprocess.run(manage + step, cwd=root, env=env, check=True, capture_output=True, timeout=300)
    with open(log_path, "w") as log:  # the server keeps its own descriptor of the file
        proc = subprocess.Popen(manage + ["serve", *serve_args, "--bind", f"127.0.0.1:{port}", "--web-workers",
                                          str(web_workers)], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    pytest.fail(f"the platform did not start: {log_path.read_text()[-2000:]}")


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def pytest_sessionstart(session):
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if EMBEDDED_LANE:
        # test.sh's second lane: the embedded mode's own services, and only its tests (see below).
        if "sqlite" not in engine or settings.REDIS_URL:
            raise pytest.UsageError("the embedded lane runs on SQLite without Redis (see test.sh)")
        return
    if IN_CI and "postgresql" not in engine:
        raise pytest.UsageError("CI runs the suite against PostgreSQL: set DATABASE_URL=postgres://...")
    if IN_CI and not (settings.REDIS_URL and _reachable(settings.REDIS_URL, 6379)):
        raise pytest.UsageError("CI needs Redis: set REDIS_URL and start redis-server")


@pytest.hookimpl(tryfirst=True)  # before -m selects, so the markers added here count
def pytest_collection_modifyitems(session, config, items):
    """Browser tests run last. Playwright's sync API keeps an asyncio loop running in the main thread from
    the first browser test to the end of the session, and MCP SDK peers (anyio.run) cannot start in a
    thread that has one; ordering keeps every test independent of what ran before it.

    Every test that drives Chromium is marked ``browser`` and ``slow`` (peer and scenario modules mark
    themselves ``slow``), so ``./test.sh -m "not slow"`` is the fast lane.

    test.sh's embedded lane (EMBEDDED_LANE=1) keeps only the tests marked ``embedded``, on top of whatever
    the caller's own -m or -k selected."""
    if EMBEDDED_LANE:
        others = [item for item in items if item.get_closest_marker("embedded") is None]
        if others:
            config.hook.pytest_deselected(items=others)
            items[:] = [item for item in items if item.get_closest_marker("embedded") is not None]
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: "browser" in getattr(item, "fixturenames", ()))


def pytest_report_header(config):
    from django.conf import settings

    db = settings.DATABASES["default"]
    return [f"database: {db['ENGINE'].rsplit('.', 1)[-1]} {db.get('HOST') or ''} {db['NAME']}",
            f"redis: {settings.REDIS_URL or 'none'}  chromium: {CHROMIUM if Path(CHROMIUM).exists() else 'missing'}"]


# --- Signing keys ---------------------------------------------------------------------------------

class SigningKeyPool:
    """Signing keys generated once per test session and handed out again (tests only).

    Every new tenant gets an active signing key in its creating transaction, and an RSA key costs ~80 ms of
    CPU to generate: most of what creating a test tenant costs. The session patches
    ``oauth.signing.keys.new_private_key`` to draw from this pool instead; everything after it (JWK, kid,
    encryption, rows) is the production path. A key is never handed out twice in one test, nor while its
    kid is in the database (rows of module-scoped fixtures, or committed by a live server thread): a kid
    is unique platform-wide and a key signs for one tenant only. Processes the tests start (Celery worker,
    ``manage.py serve``) generate their own keys.
    """

    def __init__(self, generate):
        self._generate = generate
        self._keys: dict[str, list[tuple[str, object]]] = {}
        self._taken: set[str] = set()
        self._lock = threading.Lock()

    def new_test(self) -> None:
        self._taken.clear()

    def draw(self, alg: str):
        from jwcrypto import jwk

        with self._lock:
            pool = self._keys.setdefault(alg, [])
            free = [(kid, key) for kid, key in pool if kid not in self._taken]
            in_use = self._in_database([kid for kid, _ in free]) if free else set()
            kid, key = next(((kid, key) for kid, key in free if kid not in in_use), (None, None))
            if key is None:
                key = self._generate(alg)  # raises for an unsupported alg, as production does
                kid = jwk.JWK.from_pyca(key).thumbprint()
                pool.append((kid, key))
            self._taken.add(kid)
            return key

    @staticmethod
    def _in_database(kids: list[str]) -> set[str]:
        from oauth.models import SigningKey

        try:
            return set(SigningKey._base_manager.filter(kid__in=kids).values_list("kid", flat=True))
        except RuntimeError:  # a test without database access: it cannot hold rows either
            return set()


@pytest.fixture(scope="session", autouse=True)
def _signing_key_pool():
    from oauth.signing import keys

    pool = SigningKeyPool(keys.new_private_key)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keys, "new_private_key", pool.draw)
        yield pool


@pytest.fixture(autouse=True)
def _fresh_signing_key_draws(_signing_key_pool):
    _signing_key_pool.new_test()


# --- Tenants and people (tests/factories.py builds them through the services) ----------------------

@pytest.fixture
def make_user(db):
    return factories.make_user


@pytest.fixture
def make_tenant(db):
    return factories.make_tenant


@pytest.fixture
def make_world(db):
    """``make_world(slug)``: a tenant with an owner, an admin, an auditor and an end user (TenantWorld)."""
    return factories.make_world


@pytest.fixture
def world(make_world):
    """Tenant "acme" with its people (owner, admin, auditor, member)."""
    return make_world("acme")


@pytest.fixture
def resource(world):
    """An active MCP resource of acme with the default scopes (tests.factories.make_resource)."""
    return factories.make_resource(world.tenant, "https://mcp.acme.example/mcp", name="files")


@pytest.fixture
def two_tenants(make_world):
    """Tenant A and tenant B, for every cross-tenant test: B's credentials must never reach A's data."""
    return make_world("alpha"), make_world("bravo")


@pytest.fixture
def signed_in(client):
    def sign_in(user):
        client.force_login(user, backend="identity.backends.EmailBackend")
        return client

    return sign_in


# --- Celery ---------------------------------------------------------------------------------------

def test_database_url() -> str:
    """The test database as a DATABASE_URL, for the processes a test starts (workers, servers)."""
    from django.db import connection

    db = connection.settings_dict
    if "postgresql" in db["ENGINE"]:
        return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


class CeleryWorker:
    """One `celery worker` process in a process group of its own, consuming ``queue`` against the test
    database. ``pool="solo"`` makes the process a test SIGKILLs the one doing the work; ``beat`` embeds beat.
    Test receivers (webhooks, sinks) listen on 127.0.0.1: the operator setting admits exactly that address
    for the worker (the egress guard's default, public addresses only, is what every other test checks)."""

    def __init__(self, queue: str, log_path: Path, *, pool: str = "solo", concurrency: int = 1, beat: bool = False,
                 env: dict | None = None):
        self.queue, self.log_path, self.pool, self.concurrency, self.beat = queue, log_path, pool, concurrency, beat
        self.env = {**os.environ, "EGRESS_ALLOWED_NETWORKS": os.environ.get("EGRESS_ALLOWED_NETWORKS", "127.0.0.1/32"),
                    "DATABASE_URL": test_database_url(), "CELERY_QUEUE": queue, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        from mcp_platform.celery import app

        self.starts += 1
        name = f"pytest-{uuid.uuid4().hex[:8]}@%h"
        args = [sys.executable, "-m", "celery", "-A", "mcp_platform", "worker", "--queues", self.queue,
                "--pool", self.pool, "--concurrency", str(self.concurrency), "--loglevel", "INFO", "--hostname", name,
                "--without-gossip", "--without-mingle"]
        if self.beat:
            args += ["--beat", "--schedule", str(self.log_path.parent / f"beat-{uuid.uuid4().hex[:8]}")]
        with open(self.log_path, "a") as log:  # the worker keeps its own descriptor of the file
            self.proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        hostname = name.replace("%h", os.uname().nodename)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the Celery worker exited ({self.proc.returncode}); see {self.log_path}")
            if app.control.ping(destination=[hostname], timeout=0.5):
                return
        self.stop()
        pytest.fail("the Celery worker did not answer a ping within 30 s")

    def kill(self) -> None:
        """SIGKILL to the whole process group (worker, pool and embedded beat): no cleanup, no ack."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """A warm shutdown (SIGTERM to the group), a SIGKILL after 15 s."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def _require_redis_broker() -> None:
    from django.conf import settings

    if not settings.REDIS_URL or not _reachable(settings.REDIS_URL, 6379):
        require_service("Redis", "the Celery worker uses Redis as its broker")


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """The session's shared Celery worker (prefork, two processes) on this session's queue.

    Tests that use it need committed data: mark them ``django_db(transaction=True)``.
    """
    from django.conf import settings

    _require_redis_broker()
    worker = CeleryWorker(settings.CELERY_TASK_DEFAULT_QUEUE, Path(settings.VAR_DIR) / "celery-worker.log",
                          pool="prefork", concurrency=2)
    worker.start()
    yield worker.proc
    worker.stop()


@pytest.fixture
def celery_worker_factory(transactional_db, settings, tmp_path):
    """Starts workers a test may SIGKILL and restart, on a queue of their own that the test process sends to
    by default (the session's worker must not take these tasks); stops them after the test.
    ``celery_worker_factory(beat=True, start=False, NAME="value", ...)``: the rest are environment variables."""
    from mcp_platform.celery import app

    _require_redis_broker()
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-{uuid.uuid4().hex[:6]}"
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    workers = []

    def make(*, beat: bool = False, start: bool = True, **env) -> CeleryWorker:
        worker = CeleryWorker(queue, tmp_path / f"worker-{len(workers) + 1}.log", beat=beat, env=env)
        workers.append(worker)
        if start:
            worker.start()
        return worker

    yield make
    for worker in workers:
        worker.stop()
    app.conf.task_default_queue = previous_queue


# --- Browser --------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        require_service("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture
def live_public_url(live_server, settings):
    """Issuers and absolute URLs follow the live server, as PUBLIC_URL would in production."""
    settings.PUBLIC_URL = live_server.url
    return live_server.url


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Human-password hashing is deliberately slow; the suite creates hundreds of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def _redis_client():
    from django.conf import settings

    if not (settings.REDIS_URL and _reachable(settings.REDIS_URL, 6379)):
        return None
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.fixture(autouse=True)
def _fresh_cache_and_rate_limits(_redis_client):
    """Each test starts with an empty cache and empty rate-limit windows.

    Cached tenants and clients outlive a rolled-back or truncated test database (no delete signal fires),
    and every test signs in from 127.0.0.1 with the same few e-mails. The Celery broker shares the Redis
    database, so only Django's cache keys (":1:" prefix) and the limiter's counters are deleted, not FLUSHDB.
    """
    from django.core.cache import cache

    from kit import tenant_cache
    from tenants import selectors as tenant_selectors

    tenant_cache._near.clear()  # this process's copies in front of the cache (kit/tenant_cache.py)
    tenant_selectors._tenant_ids_by_slug.clear()
    if _redis_client is None:
        cache.clear()  # the local-memory cache of a run without Redis
        return
    patterns = (":1:*", "signin:rl:*", "oauth:rl:*")
    keys = [k for pattern in patterns for k in _redis_client.scan_iter(pattern, count=1000)]
    if keys:
        _redis_client.delete(*keys)


@pytest.fixture(autouse=True)
def _loopback_dns(settings, monkeypatch):
    # Custom-domain TXT lookups never leave the machine: a test that wants answers runs its own DNS server
    # (tests/tenants/test_custom_domains.py); the rest ask a loopback port where nothing listens, and give up soon.
    settings.CUSTOM_DOMAIN_DNS_SERVERS = [("127.0.0.1", 9)]
    monkeypatch.setattr("tenants.domains.DNS_TIMEOUT_SECONDS", 0.5)


@pytest.fixture(autouse=True)
def _strict_audit(settings):
    # An audit action missing from audit/events.py fails the test that records it (production logs a warning).
    settings.AUDIT_STRICT = True
