"""Where a hot endpoint spends its time, in-process (no server, no network, no load generator):

    python -m bench.profile cc|cc-es|code|refresh|introspection|dot-cc|lean-cc|lean-cc-es|lean-introspection [N]
                            [--no-profile] [--embedded]

Runs N warm requests straight through Django's WSGI handler (the object gunicorn calls; no test client
in between) against the benchmark database with the benchmark's production settings, and prints the CPU
per request and the cProfile functions by own time and by cumulative time. ``--no-profile`` prints the
CPU per request without the profiler's overhead; ``--embedded`` runs the embedded mode instead (SQLite,
no Redis, the cache shared through files: mcp_platform.cache.EmbeddedCache). CPU time of one process
is far less disturbed by a loaded machine than wall-clock throughput, so this is the tool for deciding
what to optimise; wrk (python -m bench) then says whether it mattered. ``lean-*`` calls the lean
protocol path's handler (oauth/lean) directly, after one request through Django has warmed the tenant.
"""

from __future__ import annotations

import base64
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

from .harness import platform_env, platform_manage


def wsgi_caller(application, path: str, body: str, authorization: str = ""):
    """A callable sending one POST to ``application`` as gunicorn would; returns the status code."""
    payload = body.encode()
    base = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8100", "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1:8100", "wsgi.url_scheme": "http",
            "CONTENT_TYPE": "application/x-www-form-urlencoded", "CONTENT_LENGTH": str(len(payload)),
            "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": True,
            "wsgi.run_once": False, "wsgi.version": (1, 0)}
    if authorization:
        base["HTTP_AUTHORIZATION"] = authorization
    status = []

    def start_response(line, headers, exc_info=None):
        status.append(int(line[:3]))

    def call(body_bytes: bytes = payload) -> int:
        environ = dict(base, CONTENT_LENGTH=str(len(body_bytes)))
        environ["wsgi.input"] = io.BytesIO(body_bytes)
        response = application(environ, start_response)
        b"".join(response)
        response.close()
        return status.pop()

    return call


def plain_dot_caller():
    """The same loop against the plain-DOT peer (bench/peers/plain-dot, its benchmark database), for a
    CPU-per-request comparison without servers: ``python -m bench.profile dot-cc 1000 --no-profile``."""
    from .harness import BENCH, dot_env

    os.environ.update(dot_env())
    sys.path.insert(0, str(BENCH / "peers" / "plain-dot"))
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler

    secret = "bench-secret-0123456789abcdef0123456789abcdef"  # bench/peers/plain-dot/setup_app.py
    auth = "Basic " + base64.b64encode(f"bench-client:{secret}".encode()).decode()
    return wsgi_caller(WSGIHandler(), "/o/token/", "grant_type=client_credentials&resource=https://mcp.example.test/",
                       auth)


def main(argv: list[str]) -> None:
    flags = {a for a in argv if a.startswith("--")}
    argv = [a for a in argv if not a.startswith("--")]
    kind, n = argv[0], int(argv[1]) if len(argv) > 1 else 300
    if kind == "dot-cc":
        return measure(kind, plain_dot_caller(), n, flags)
    if "--embedded" in flags:
        os.environ["BENCH_EMBEDDED"] = "1"
        embedded_var = Path(platform_env(8100)["VAR_DIR"])
        if not (embedded_var / "fixture.json").exists():
            embedded_var.mkdir(parents=True, exist_ok=True)
            platform_manage("migrate", "-v0")
            platform_manage("setup")
    os.environ.update(platform_env(8100))
    from . import seed

    seed._django()
    from django.core.handlers.wsgi import WSGIHandler

    fixture = seed._fixture()
    slug = "bench-es" if kind.endswith("-es") else "bench-rs"
    entry = fixture["tenants"][slug]
    application = WSGIHandler()

    def basic(credentials):
        return "Basic " + base64.b64encode(f"{credentials['client_id']}:{credentials['secret']}".encode()).decode()

    cc_body = f"grant_type=client_credentials&resource={entry['resource']}"
    token_path = f"/t/{slug}/token"
    if kind in ("code", "refresh"):
        path = seed.FIXTURE.parent / f"profile-{kind}.txt"
        (seed.mint_codes if kind == "code" else seed.mint_refresh)(slug, n + 5, str(path))
        bodies = iter(path.read_text().splitlines())
        post = wsgi_caller(application, token_path, "")
        call = lambda: post(next(bodies).encode())  # noqa: E731
    elif kind == "introspection":
        from django.test import Client

        token = Client().post(token_path, cc_body, content_type="application/x-www-form-urlencoded",
                              HTTP_AUTHORIZATION=basic(entry["agent"])).json()["access_token"]
        call = wsgi_caller(application, f"/t/{slug}/introspect", f"token={token}", basic(entry["rs"]))
    elif kind.startswith("lean-"):  # the lean protocol path's handler alone (oauth/lean), no ASGI server
        from oauth.lean.endpoints import LeanRequest, answer

        assert wsgi_caller(application, token_path, cc_body, basic(entry["agent"]))() == 200  # Django first
        if kind.startswith("lean-introspection"):
            from django.test import Client

            token = Client().post(token_path, cc_body, content_type="application/x-www-form-urlencoded",
                                  HTTP_AUTHORIZATION=basic(entry["agent"])).json()["access_token"]
            request = LeanRequest("introspect", slug, basic(entry["rs"]), "application/x-www-form-urlencoded",
                                  f"token={token}".encode())
        else:
            request = LeanRequest("token", slug, basic(entry["agent"]), "application/x-www-form-urlencoded",
                                  cc_body.encode())
        call = lambda: (answer(request) or (0,))[0]  # noqa: E731
    else:
        call = wsgi_caller(application, token_path, cc_body, basic(entry["agent"]))
    measure(kind, call, n, flags)


def measure(kind: str, call, n: int, flags: set) -> None:
    for _ in range(5):
        assert call() == 200
    profiler = cProfile.Profile(time.process_time) if "--no-profile" not in flags else None
    started, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    for _ in range(n):
        call()
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"{kind}: {n} requests, {1000 * wall / n:.2f} ms wall and {1000 * cpu / n:.2f} ms CPU per request"
          + (" (profiler overhead included)" if profiler else ""))
    if profiler:
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(60)


if __name__ == "__main__":
    main(sys.argv[1:])
