"""Where a hot endpoint spends its time, in-process (no server, no network, no load generator):

    python -m bench.profile cc|code|refresh|introspection [N]

Runs N warm requests through Django's test client against the benchmark database with the benchmark's
production settings and prints the cProfile functions by own time and by cumulative time. CPU time of
one process is far less disturbed by a loaded machine than wall-clock throughput, so this is the tool
for deciding what to optimise; wrk (python -m bench) then says whether it mattered.
"""

from __future__ import annotations

import base64
import cProfile
import os
import pstats
import sys
import time

from .harness import platform_env


def main(argv: list[str]) -> None:
    os.environ.update(platform_env(8100))
    from . import seed

    seed._django()
    from django.test import Client

    kind, n = argv[0], int(argv[1]) if len(argv) > 1 else 300
    fixture = seed._fixture()
    entry = fixture["tenants"]["bench-rs"]
    http = Client()
    auth = "Basic " + base64.b64encode(f"{entry['agent']['client_id']}:{entry['agent']['secret']}".encode()).decode()
    rs_auth = "Basic " + base64.b64encode(f"{entry['rs']['client_id']}:{entry['rs']['secret']}".encode()).decode()
    form = "application/x-www-form-urlencoded"
    cc_body = f"grant_type=client_credentials&resource={entry['resource']}"
    if kind in ("code", "refresh"):
        path = seed.FIXTURE.parent / f"profile-{kind}.txt"
        (seed.mint_codes if kind == "code" else seed.mint_refresh)("bench-rs", n + 5, str(path))
        bodies = iter(path.read_text().splitlines())
        call = lambda: http.post("/t/bench-rs/token", next(bodies), content_type=form)  # noqa: E731
    elif kind == "introspection":
        token = http.post("/t/bench-rs/token", cc_body, content_type=form,
                          HTTP_AUTHORIZATION=auth).json()["access_token"]
        call = lambda: http.post("/t/bench-rs/introspect", f"token={token}", content_type=form,  # noqa: E731
                                 HTTP_AUTHORIZATION=rs_auth)
    else:
        call = lambda: http.post("/t/bench-rs/token", cc_body, content_type=form, HTTP_AUTHORIZATION=auth)  # noqa: E731
    for _ in range(5):
        assert call().status_code == 200
    profiler = cProfile.Profile()
    started, cpu = time.perf_counter(), time.process_time()
    profiler.enable()
    for _ in range(n):
        call()
    profiler.disable()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"{kind}: {n} requests, {1000 * wall / n:.2f} ms wall and {1000 * cpu / n:.2f} ms CPU per request "
          "(profiler overhead included)")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    main(sys.argv[1:])
