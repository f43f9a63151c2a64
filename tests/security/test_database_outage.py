"""Fault injection: the platform's own PostgreSQL is stopped while it serves, then started again.

During the outage callers get clean 503s (RFC 6749 ``temporarily_unavailable``, ``Retry-After``), never a
500 page; once the database is back the same processes serve again, with no restart of the platform.
The PostgreSQL cluster is the test's own (initdb on a free loopback port), never the machine's.
"""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, serve_platform

pytestmark = pytest.mark.slow

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)


class OwnPostgres:
    def __init__(self, base: Path, port: int):
        self.data, self.port = base / "data", port
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _ctl(self, *args):
        subprocess.run([*self.as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args], check=True,
                       capture_output=True, timeout=60)

    def init(self):
        if self.as_postgres:
            shutil.chown(self.data.parent, "postgres")
        subprocess.run([*self.as_postgres, str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U",
                        "postgres"], check=True, capture_output=True, timeout=60)

    def start(self):
        self._ctl("-o", f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1", "-l",
                  str(self.data.parent / "log"), "-w", "start")

    def stop(self):
        self._ctl("-m", "immediate", "-w", "stop")


@pytest.fixture
def platform_on_own_postgres(tmp_path):
    if PG_BIN is None:
        pytest.fail("PostgreSQL's server binaries are required (Debian package postgresql)")
    # Not under tmp_path: pytest's directories are private to root and the server runs as postgres.
    pg_base = Path(tempfile.mkdtemp(prefix="mcp-platform-pg-"))
    pg_base.chmod(0o755)
    pg = OwnPostgres(pg_base, free_port())
    pg.init()
    pg.start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_QUEUE")}
    env.update(DATABASE_URL=f"postgres://postgres@127.0.0.1:{pg.port}/postgres", VAR_DIR=str(tmp_path / "var"),
               PUBLIC_URL=f"http://127.0.0.1:{port}")
    proc = serve_platform(env, port, tmp_path / "serve.log", "--no-jobs")
    base = f"http://127.0.0.1:{port}"
    yield base, pg
    os.killpg(proc.pid, 15)
    proc.wait(timeout=20)
    if (pg.data / "postmaster.pid").exists():
        pg.stop()
    shutil.rmtree(pg_base, ignore_errors=True)


def test_database_outage_answers_503_and_recovers_without_a_restart(platform_on_own_postgres):
    base, pg = platform_on_own_postgres
    metadata = f"{base}/.well-known/oauth-authorization-server/t/demo"
    assert httpx.get(metadata).status_code == 200

    pg.stop()
    # Public documents already rendered for this tenant generation are answered from their bytes, with no
    # SQL (mcp_platform/documents.py): discovery stays up through the outage. What needs the database
    # answers 503 temporarily_unavailable with a Retry-After.
    assert httpx.get(metadata).status_code == 200

    def token_request() -> httpx.Response:
        return httpx.post(f"{base}/t/demo/token",
                          data={"grant_type": "client_credentials", "client_id": "agent", "client_secret": "s"})

    for response in (token_request(), httpx.get(f"{base}/readyz")):
        assert response.status_code == 503, (str(response.url), response.status_code, response.text[:300])
    outage = token_request()
    assert outage.json()["error"] == "temporarily_unavailable" and outage.headers["Retry-After"] == "5"
    assert httpx.get(f"{base}/healthz").status_code == 200  # the process itself is alive

    pg.start()
    deadline = time.time() + 20
    while time.time() < deadline and token_request().status_code == 503:
        time.sleep(0.5)
    assert token_request().status_code == 401  # the database answers again: an unknown client, not an outage
    assert httpx.get(f"{base}/readyz").json()["checks"]["database"] == "ok"
