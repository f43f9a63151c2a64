"""Under pytest-xdist, each worker gets its own Redis database, Celery queue and VAR_DIR.

pytest-django already gives each worker its own test database (the name gets a ``_gw<N>`` suffix). Redis
is shared, though, and what the tests keep there collides across workers: cached rows are keyed by ids
that repeat across the workers' databases, every test empties the cache and the rate-limit windows
(tests/conftest.py), and the Celery worker of one session would run another session's tasks against its
own database. So worker N of W uses the Redis database REDIS_URL names plus N * (16 // W), modulo Redis's
16: the workers of a run spread over all sixteen, and with two workers (test.sh's default) the second is
eight away, clear of runs whose REDIS_URL names the next database (one engineer's database each). The queue
``$CELERY_QUEUE-gw<N>`` and ``$VAR_DIR/gw<N>`` (logs, export files, secrets; the collected static files
are linked). Processes the tests start inherit these variables.

Loaded as a plugin (``-p tests.xdist_isolation`` in pyproject.toml) because pytest-django loads the
Django settings before any conftest.py is imported; a plain run (no PYTEST_XDIST_WORKER) is untouched.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
REDIS_DATABASES = 16  # redis-server's default "databases"


def worker_redis_url(url: str, index: int, workers: int) -> str:
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    stride = max(1, REDIS_DATABASES // max(1, workers))
    return urlunsplit(parts._replace(path=f"/{(base + index * stride) % REDIS_DATABASES}"))


def isolate(worker: str, environ=os.environ) -> None:
    index = int(worker.removeprefix("gw"))
    if environ.get("REDIS_URL"):
        workers = int(environ.get("PYTEST_XDIST_WORKER_COUNT") or index + 1)
        environ["REDIS_URL"] = worker_redis_url(environ["REDIS_URL"], index, workers)
    environ["CELERY_QUEUE"] = f"{environ.get('CELERY_QUEUE') or 'test'}-{worker}"
    shared = Path(environ.get("VAR_DIR") or ROOT / "var")
    own = shared / worker
    own.mkdir(parents=True, exist_ok=True)
    if (shared / "static").is_dir() and not (own / "static").exists():
        (own / "static").symlink_to(shared / "static", target_is_directory=True)
    environ["VAR_DIR"] = str(own)


if os.environ.get("PYTEST_XDIST_WORKER"):
    isolate(os.environ["PYTEST_XDIST_WORKER"])
