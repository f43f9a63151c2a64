"""python -m bench all | SCENARIO... [--runs 3] [--duration 10] [--conns 16] [--workers 4]

Prepares the databases (platform: ``bench_platform``, recreated and migrated unless --keep-db; peers:
``peerbench``), starts the platform with production settings and its peers, measures each scenario
A B A B, prints the table (markdown) and writes it with the raw runs under var/bench/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as pyplatform
import sys
import time

from . import harness, scenarios
from .harness import VAR, log

SCENARIOS = {
    "cc-rs256": lambda s: scenarios.client_credentials(s, "RS256"),
    "cc-es256": lambda s: scenarios.client_credentials(s, "ES256"),
    "code": lambda s: scenarios.single_use(s, "authorization_code"),
    "refresh": lambda s: scenarios.single_use(s, "refresh"),
    "introspection": scenarios.introspection,
    "documents": scenarios.documents,
    "dcr": scenarios.registration,
    "servers": scenarios.servers,
    "sdk": lambda s: (s.platform(), scenarios.external(s, "sdk_flow.py", "full MCP SDK flow (latency)",
                                                       ("--flows", "20", "--calls", "300"))),
    "guard": lambda s: scenarios.external(s, "guard_verify.py", "mcp_guard verification",
                                          ("--seconds", str(max(2, s.duration // 3)))),
    "audit": lambda s: scenarios.external(s, "audit_bench.py", "audit write overhead and search",
                                          database="bench_audit"),
    "revocation": lambda s: scenarios.external(s, "revocation_bench.py", "bulk revocation",
                                               database="bench_revocation"),
    "tenants": scenarios.tenants_flat,  # last: it grows the database
}


def prepare(keep_db: bool) -> tuple[dict, dict, dict]:
    harness.ensure_peer_db()
    if not keep_db:
        log("platform: recreating database bench_platform and migrating")
        harness.reset_platform_db()
    harness.platform_manage("migrate", "-v0")
    harness.platform_manage("setup")
    harness.dot_manage("migrate")
    harness.dot_manage("setup")
    fixture = json.loads((VAR / "fixture.json").read_text())
    sql = json.loads(harness.platform_manage("sql"))
    sql_dot = json.loads(harness.dot_manage("sql"))
    log(f"SQL statements per request: platform {sql}; plain DOT {sql_dot}")
    return fixture, sql, sql_dot


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               "unknown CPU")
    load = open("/proc/loadavg").read().split()[:3]
    return (f"{os.cpu_count()} x {cpu}, {pyplatform.system()} {pyplatform.release()}, Python "
            f"{pyplatform.python_version()}; load average at start {' '.join(load)}")


def _fmt(value, digits=1) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def table(rows) -> str:
    lines = ["| scenario | peer | ours/s | peer/s | ratio | p50 ms ours / peer | p99 ms ours / peer "
             "| SQL/req ours / peer | CPU ms/req ours / peer |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        p = r.peer
        errors = f" ({r.ours.non2xx} non-2xx)" if r.ours.non2xx else ""
        peer_errors = f" ({p.non2xx} non-2xx)" if p and p.non2xx else ""
        lines.append(
            f"| {r.scenario}{errors} | {r.peer_label or '—'}{peer_errors} | {_fmt(r.ours.rps, 0)} | "
            f"{_fmt(p.rps, 0) if p else '—'} | {_fmt(r.ratio, 2) if r.ratio else '—'} | "
            f"{_fmt(r.ours.p50, 2)} / {_fmt(p.p50, 2) if p else '—'} | {_fmt(r.ours.p99, 1)} / "
            f"{_fmt(p.p99, 1) if p else '—'} | {_fmt(r.sql_ours)} / {_fmt(r.sql_peer)} | "
            f"{_fmt(r.ours.cpu_ms, 2)} / {_fmt(p.cpu_ms, 2) if p else '—'} |")
    return "\n".join(lines)


# Issue 18's ratio targets that this table measures: (scenario, peer, at least, what the issue says).
TARGETS = [
    ("client_credentials persisted", "node-oidc-provider opaque, PostgreSQL", 0.5,
     "client_credentials RS256 >= 0.5x node-oidc-provider opaque + PostgreSQL"),
    ("client_credentials ES256 persisted", "node-oidc-provider opaque, PostgreSQL", 0.5,
     "client_credentials ES256 >= 0.5x node-oidc-provider opaque + PostgreSQL"),
    ("introspection", "node-oidc-provider opaque, PostgreSQL", 0.5,
     "introspection >= 0.5x node-oidc-provider opaque + PostgreSQL"),
    ("authorization_code", "plain DOT", 2.0, "authorization_code >= 2x plain DOT"),
    ("refresh", "plain DOT", 2.0, "refresh >= 2x plain DOT"),
    ("jwks", "node-oidc-provider", 1.0, "JWKS >= 1x node-oidc-provider"),
    ("metadata", "node-oidc-provider", 1.0, "metadata >= 1x node-oidc-provider"),
]


def verdicts(rows) -> str:
    """Each target this run measured, with its ratio and met / missed (targets it did not measure are left out)."""
    lines = ["| target | ratio | status |", "|---|---:|---|"]
    for scenario, peer, least, what in TARGETS:
        row = next((r for r in rows if r.scenario == scenario and r.peer_label == peer and r.ratio), None)
        if row is not None:
            lines.append(f"| {what} | {row.ratio:.2f} | {'met' if row.ratio >= least else 'missed'} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def record(report: str) -> None:
    """Replaces the measured section of bench/README.md (between its markers) with this run's report."""
    readme = harness.BENCH / "README.md"
    text = readme.read_text()
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    if start not in text or end not in text:
        raise SystemExit(f"{readme} has lost its results markers {start} ... {end}; put them back")
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    readme.write_text(f"{before}{start}\n{report}\n{end}{after}")
    log(f"recorded in {readme}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="+", help=f"all, or some of: {', '.join(SCENARIOS)}")
    parser.add_argument("--runs", type=int, default=3, help="wrk runs per contender (median reported)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--conns", type=int, default=16, help="wrk connections")
    parser.add_argument("--workers", type=int, default=4,
                        help="web worker processes (the platform under granian, plain DOT under gunicorn)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per gunicorn sync worker of the gunicorn-wsgi candidate (>1: gthread)")
    parser.add_argument("--keep-db", action="store_true", help="reuse bench_platform as it is")
    parser.add_argument("--baseline", default="", metavar="DIR",
                        help="also measure the platform from another checkout (e.g. a git worktree of an "
                             "earlier commit) as a contender, to measure a change")
    parser.add_argument("--record", action="store_true",
                        help="also write the table into bench/README.md (between its results markers)")
    parser.add_argument("--levels", default="1000,10000", help="tenant counts for the 'tenants' scenario")
    args = parser.parse_args(argv)
    names = list(SCENARIOS) if args.scenarios == ["all"] else args.scenarios
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from all, {', '.join(SCENARIOS)}")
    VAR.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    description = machine()
    log(f"bench {started}: {description}")
    fixture, sql, sql_dot = prepare(args.keep_db)
    with scenarios.Session(duration=args.duration, runs=args.runs, conns=args.conns, workers=args.workers,
                           threads=args.threads, baseline=args.baseline) as session:
        session.fixture, session.sql, session.sql_dot = fixture, sql, sql_dot
        for name in names:
            log(f"== {name}")
            if name == "tenants":
                scenarios.tenants_flat(session, levels=[int(x) for x in args.levels.split(",") if x])
            else:
                SCENARIOS[name](session)
        rows, external = session.rows, session.external
    header = (f"Measured {started} on {description}. wrk -t2 -c{args.conns}, {args.runs} x {args.duration} s "
              f"per contender, A B A B; {args.workers} web workers each (the platform under granian as "
              f"`manage.py serve` runs it, plain DOT under gunicorn).")
    report = header + "\n\n" + table(rows)
    if targets := verdicts(rows):
        report += "\n\nTargets (issue 18):\n\n" + targets
    for label, text in external.items():
        report += f"\n\n{label}:\n```\n{text}\n```"
    print(report)
    stamp = started.replace(":", "")
    (VAR / f"results-{stamp}.md").write_text(report + "\n")
    (VAR / f"results-{stamp}.json").write_text(json.dumps(
        {"started": started, "machine": description, "args": vars(args), "sql": sql, "sql_dot": sql_dot,
         "rows": [{"scenario": r.scenario, "peer": r.peer_label, "ratio": r.ratio, "ours": r.ours.as_dict(),
                   "peer_run": r.peer.as_dict() if r.peer else None, "sql_ours": r.sql_ours, "sql_peer": r.sql_peer}
                  for r in rows], "external": external}, indent=2))
    log(f"written to {VAR}/results-{stamp}.md")
    if args.record:
        record(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
