"""The scenarios: for each, the platform and one or more peers get the same request shape, and are
measured A B A B (one short wrk run each, in turn, ``runs`` times) so that load from the rest of the
machine hits both alike; the table shows medians and the ratio ours/peer of the same run.
"""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field

from . import harness
from .harness import VAR, Load, Run, Server, log, median_run, warm, wrk

NODE_RESOURCE = "https://mcp.example.test/"
EXTERNAL_TIMEOUT = 900  # seconds for another engineer's benchmark (bench/<script>)
PEER_SECRET = "bench-secret-0123456789abcdef0123456789abcdef"


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@dataclass
class Contender:
    label: str
    server: Callable[[], Server]  # returns a started server (shared ones are started once)
    load: Callable[[int], Load]  # run index -> request shape (fresh single-use bodies per run)
    sql: int | None = None
    single_use: bool = False  # bodies are spent: fresh bodies minted per run
    path: str = ""  # of single-use loads, for warming up
    runs: list[Run] = field(default_factory=list)


@dataclass
class Row:
    scenario: str
    ours: Run
    peer_label: str
    peer: Run | None
    sql_ours: int | None
    sql_peer: int | None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return round(self.ours.rps / self.peer.rps, 2) if self.peer and self.peer.rps else None


class Session:
    """Shared servers (the platform, plain DOT) live for the whole session; node-oidc-provider variants
    are started per scenario on one port. Everything started is stopped on exit."""

    def __init__(self, *, duration: int, runs: int, conns: int, workers: int, threads: int, baseline: str = ""):
        self.duration, self.runs, self.conns, self.baseline_root = duration, runs, conns, baseline
        self.workers, self.threads = workers, threads
        self.stack = ExitStack()
        self._platform = self._dot = self._baseline = None
        self.fixture: dict = {}
        self.sql: dict = {}
        self.sql_dot: dict = {}
        self.rows: list[Row] = []
        self.external: dict[str, str] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stack.close()

    # servers
    def platform(self) -> Server:
        if self._platform is None:
            self._platform = self.stack.enter_context(harness.platform_server(workers=self.workers,
                                                                              threads=self.threads))
        return self._platform

    def baseline(self) -> Server:
        """The platform from another checkout (--baseline DIR): measures a change A B A B."""
        if self._baseline is None:
            import shutil

            for name in ("wsgi.py", "asgi.py"):
                shutil.copy(harness.BENCH / name, harness.Path(self.baseline_root) / "bench" / name)
            self._baseline = self.stack.enter_context(harness.platform_server(
                port=8102, workers=self.workers, threads=self.threads, root=harness.Path(self.baseline_root)))
        return self._baseline

    def with_baseline(self, ours: Contender, peers: list) -> list:
        if not self.baseline_root:
            return peers
        return [Contender(f"platform at {self.baseline_root}", self.baseline, ours.load, None,
                          ours.single_use, ours.path), *peers]

    def dot(self) -> Server:
        if self._dot is None:
            self._dot = self.stack.enter_context(harness.dot_server(workers=self.workers))
        return self._dot

    # measuring
    def compare(self, scenario: str, ours: Contender, peers: list[Contender], note: str = "") -> list[Row]:
        contenders = [ours, *peers]
        for c in contenders:
            if c.single_use:  # warm on the same path with an empty form (a 400): no body is spent
                warm(c.server(), Load("POST", c.path, {}, ""))
            else:
                warm(c.server(), c.load(-1))
        for i in range(self.runs):
            for c in contenders:  # A B A B: each run of ours sits between runs of its peers
                run = wrk(c.server(), c.load(i), duration=self.duration, conns=self.conns)
                c.runs.append(run)
                log(f"  {scenario:<28} {c.label:<34} run {i + 1}: {run.rps:8.1f}/s p50 {run.p50:6.2f} ms "
                    f"p99 {run.p99:7.2f} ms cpu {run.cpu_ms:.2f} ms/req non2xx {run.non2xx}")
        mine = median_run(ours.runs)
        rows = [Row(scenario, mine, p.label, median_run(p.runs), ours.sql, p.sql, note) for p in peers] or \
            [Row(scenario, mine, "", None, ours.sql, None, note)]
        self.rows += rows
        return rows


# --- request shapes ---------------------------------------------------------------------------------

def _mint_platform(kind: str, slug: str, n: int) -> str:
    path = VAR / f"{kind}-platform.txt"
    harness.platform_manage(kind, slug, str(n), str(path))
    return str(path)


def _mint_dot(kind: str, n: int) -> str:
    path = VAR / f"{kind}-dot.txt"
    harness.dot_manage(kind, str(n), str(path))
    return str(path)


def cc_load(session: Session, slug: str) -> Callable[[int], Load]:
    agent = session.fixture["tenants"][slug]["agent"]
    load = Load("POST", f"/t/{slug}/token", {"Authorization": basic(agent["client_id"], agent["secret"])},
                f"grant_type=client_credentials&resource={session.fixture['tenants'][slug]['resource']}")
    return lambda i: load


PEER_CC = Load("POST", "/o/token/", {"Authorization": basic("bench-client", PEER_SECRET)},
               "grant_type=client_credentials&scope=mcp%3Atools")
NODE_CC = Load("POST", "/token", {"Authorization": basic("bench-client", PEER_SECRET)},
               f"grant_type=client_credentials&scope=mcp%3Atools&resource={NODE_RESOURCE}")


def node(session: Session, **config) -> Callable[[], Server]:
    started: list[Server] = []

    def get() -> Server:
        if not started:
            started.append(session.stack.enter_context(harness.node_server(**config)))
        return started[0]

    return get


def stop_node(getter: Callable[[], Server]) -> None:
    server = getter()
    server.stop()


def _post_form(url: str, body: str, auth: str) -> dict:
    request = urllib.request.Request(url, body.encode(), {"Authorization": auth,
                                                          "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


# --- scenarios --------------------------------------------------------------------------------------

def client_credentials(session: Session, alg: str) -> None:
    slug = "bench-rs" if alg == "RS256" else "bench-es"
    ours = Contender(f"platform JWT {alg}, persisted", session.platform, cc_load(session, slug),
                     session.sql.get(f"client_credentials {alg}"))
    peers = [Contender("plain DOT, opaque, persisted", session.dot, lambda i: PEER_CC,
                       session.sql_dot.get("client_credentials"))]
    jwt_node = node(session, fmt="jwt", alg=alg, workers=2)
    peers.append(Contender(f"node-oidc-provider JWT {alg}, not stored", jwt_node, lambda i: NODE_CC, 0))
    session.compare(f"client_credentials {alg}", ours, session.with_baseline(ours, peers))
    stop_node(jwt_node)
    # issue 18's target: both algorithms against the persisted peer (one INSERT per token)
    persisted = node(session, fmt="opaque", adapter="pg", workers=2)
    name = "client_credentials persisted" if alg == "RS256" else "client_credentials ES256 persisted"
    session.compare(name, Contender(ours.label, ours.server, ours.load, ours.sql),
                    [Contender("node-oidc-provider opaque, PostgreSQL", persisted, lambda i: NODE_CC, None)],
                    note="node's pg adapter: one INSERT per token")
    stop_node(persisted)


def single_use(session: Session, kind: str) -> None:
    """authorization_code (pre-minted codes) or refresh (pre-minted refresh tokens, rotated on use)."""
    budget = session.duration * harness.MINT_PER_SECOND
    ours = Contender("platform", session.platform,
                     lambda i: Load("POST", "/t/bench-rs/token", {}, "",
                                    _mint_platform("codes" if kind == "authorization_code" else "refresh",
                                                   "bench-rs", budget)),
                     session.sql.get(kind), single_use=True, path="/t/bench-rs/token")
    peer = Contender("plain DOT", session.dot,
                     lambda i: Load("POST", "/o/token/", {}, "",
                                    _mint_dot("codes" if kind == "authorization_code" else "refresh",
                                              budget)),
                     session.sql_dot.get(kind), single_use=True, path="/o/token/")
    session.compare(kind, ours, session.with_baseline(ours, [peer]))


def introspection_load(session: Session) -> Callable[[int], Load]:
    """The benchmark's resource server introspecting one live token of bench-rs."""
    entry = session.fixture["tenants"]["bench-rs"]
    agent, rs = entry["agent"], entry["rs"]
    token = _post_form(f"{session.platform().url}/t/bench-rs/token",
                       f"grant_type=client_credentials&resource={entry['resource']}",
                       basic(agent["client_id"], agent["secret"]))["access_token"]
    auth = {"Authorization": basic(rs["client_id"], rs["secret"])}
    return lambda i: Load("POST", "/t/bench-rs/introspect", auth, f"token={token}")


def introspection(session: Session) -> None:
    ours = Contender("platform", session.platform, introspection_load(session), session.sql.get("introspection"))
    dot = session.dot()
    dot_token = _post_form(f"{dot.url}/o/token/", PEER_CC.body, PEER_CC.headers["Authorization"])["access_token"]
    peers = [Contender("plain DOT", session.dot,
                       lambda i: Load("POST", "/o/introspect/", {"Authorization": PEER_CC.headers["Authorization"]},
                                      f"token={dot_token}"), session.sql_dot.get("introspection"))]
    persisted = node(session, fmt="opaque", adapter="pg", workers=2)
    node_token = _post_form(f"{persisted().url}/token", NODE_CC.body, NODE_CC.headers["Authorization"])["access_token"]
    peers.append(Contender("node-oidc-provider opaque, PostgreSQL", persisted,
                           lambda i: Load("POST", "/token/introspection",
                                          {"Authorization": NODE_CC.headers["Authorization"]},
                                          f"token={node_token}"), None))
    session.compare("introspection", ours, session.with_baseline(ours, peers))
    stop_node(persisted)


def documents(session: Session) -> None:
    server = node(session, fmt="jwt", alg="RS256", workers=2)
    for name, ours_path, node_path in (("jwks", "/t/bench-rs/jwks.json", "/jwks"),
                                       ("metadata", "/.well-known/oauth-authorization-server/t/bench-rs",
                                        "/.well-known/openid-configuration")):
        ours = Contender("platform", session.platform, lambda i, p=ours_path: Load("GET", p), session.sql.get(name))
        session.compare(name, ours, session.with_baseline(
            ours, [Contender("node-oidc-provider", server, lambda i, p=node_path: Load("GET", p), 0)]))
    stop_node(server)


SERVER_CANDIDATES = ("gunicorn-wsgi", "gunicorn-uvicorn", "uvicorn")


def servers(session: Session) -> None:
    """The platform under each candidate web server (mcp_platform/server.py) at the same worker count: JWKS
    (the server's and dispatch's share is largest) and client_credentials ES256 (a whole token request);
    then a bare ASGI callable under each ASGI server (bench/bare_asgi.py): what the server alone costs, the
    floor under a lean protocol path. "platform" is the server ``manage.py serve`` runs."""
    from mcp_platform.server import DEFAULT

    port = iter(range(8103, 8120))
    others = {name: _server(session, name, next(port)) for name in SERVER_CANDIDATES if name != DEFAULT}
    for label, load in (("JWKS", lambda i: Load("GET", "/t/bench-es/jwks.json")),
                        ("client_credentials ES256", cc_load(session, "bench-es"))):
        session.compare(f"{label}, server {DEFAULT}", Contender(f"platform under {DEFAULT}", session.platform, load),
                        [Contender(f"platform under {name}", getter, load) for name, getter in others.items()],
                        note=f"{session.workers} workers each")
    for getter in others.values():
        stop_node(getter)
    bare = {name: _server(session, name, next(port), app=harness.BARE_APP)
            for name in (DEFAULT, *SERVER_CANDIDATES) if name != "gunicorn-wsgi"}
    load = lambda i: Load("GET", "/jwks.json")  # noqa: E731
    ours, *rest = bare.items()
    session.compare(f"bare ASGI callable, server {DEFAULT}", Contender(f"{ours[0]}, bare", ours[1], load),
                    [Contender(f"{name}, bare", getter, load) for name, getter in rest],
                    note=f"{session.workers} workers each")
    for getter in bare.values():
        stop_node(getter)


def _server(session: Session, name: str, port: int, app: str = "") -> Callable[[], Server]:
    started: list[Server] = []

    def get() -> Server:
        if not started:
            started.append(session.stack.enter_context(harness.platform_server(
                port=port, workers=session.workers, threads=session.threads, server=name, app=app)))
        return started[0]

    return get


def registration(session: Session) -> None:
    """RFC 7591 Dynamic Client Registration, when the tenant's metadata advertises it."""
    platform = session.platform()
    with urllib.request.urlopen(f"{platform.url}/.well-known/oauth-authorization-server/t/bench-rs",
                                timeout=10) as response:
        endpoint = json.loads(response.read()).get("registration_endpoint")
    if not endpoint:
        log("  dcr: the registration endpoint has not landed (no registration_endpoint in metadata); skipped")
        return
    path = "/" + endpoint.split("/", 3)[3]
    body = json.dumps({"client_name": "bench", "redirect_uris": ["http://127.0.0.1:33418/callback"],
                       "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
                       "response_types": ["code"]})
    session.compare("dcr registration", Contender("platform", session.platform,
                                                  lambda i: Load("POST", path, {"Content-Type": "application/json"},
                                                                 body), single_use=False), [])


def tenants_flat(session: Session, levels=(1000, 10000)) -> None:
    """client_credentials and introspection, and SQL per request, as the number of tenants grows (ours
    only: the ratio is to the same endpoint with the 2 benchmark tenants alone)."""
    endpoints = (("client_credentials", cc_load(session, "bench-rs"), "client_credentials RS256"),
                 ("introspection", introspection_load(session), "introspection"))
    bases = {}
    for name, load, sql_key in endpoints:
        bases[name] = Contender("platform, 2 tenants", session.platform, load, session.sql.get(sql_key))
        session.compare(f"{name}, 2 tenants", bases[name], [])
    for level in levels:
        log(f"  growing to {level} tenants")
        harness.platform_manage("tenants", str(level), timeout=3600)
        sql = json.loads(harness.platform_manage("sql"))
        for name, load, sql_key in endpoints:
            grown = Contender(f"platform, {level} tenants", session.platform, load, sql.get(sql_key))
            rows = session.compare(f"{name}, {level:,} tenants", grown, [])
            rows[0].peer_label, rows[0].peer = "same, 2 tenants", median_run(bases[name].runs)
            rows[0].sql_peer = bases[name].sql


def external(session: Session, script: str, label: str, args: tuple[str, ...] = (), database: str = "") -> None:
    """Benchmarks other engineers own (bench/<script>): run as their docstring says, output quoted.
    ``database``: a scratch database of its own (such scripts drop and recreate theirs)."""
    path = harness.BENCH / script
    if not path.exists():
        log(f"  {label}: bench/{script} is not here yet; skipped")
        return
    env = harness.platform_env(8100)
    if database:
        env["DATABASE_URL"] = f"{harness.PG}/{database}"
    try:
        result = subprocess.run([harness.PYTHON, "-m", f"bench.{path.stem}", *args], cwd=harness.ROOT, env=env,
                                capture_output=True, text=True, timeout=EXTERNAL_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        session.external[label] = f"{output.strip()[-2500:]}\n(stopped after {EXTERNAL_TIMEOUT} s)"
    else:
        session.external[label] = (result.stdout + (result.stderr if result.returncode else "")).strip()[-3000:]
    log(f"  {label}:\n{session.external[label]}")
