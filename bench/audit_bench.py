"""Audit log benchmark on PostgreSQL: write overhead per event, and search latency at 1M (and 10M) events.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_audit .venv/bin/python bench/audit_bench.py [--ten-million]

The database named in DATABASE_URL is dropped and recreated (it must not be "test" or your data). Events
for the search part are generated set-based (INSERT ... SELECT generate_series) with the distribution of
a busy tenant: 40 registered actions, 2 000 actors, 20 000 targets, a third of events naming a client, a fifth a
resource, half an IP, ~1% warnings; 10% of rows belong to a second tenant. Generated rows carry no hashes:
this measures indexes and queries, not the chain (verification is O(n) by design and runs incrementally
from checkpoints with --since).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcp_platform.settings")

GENERATE = """
INSERT INTO audit_auditevent (chain, seq, tenant_id, occurred_at, action, severity, actor_type, actor_id,
    actor_label, target_type, target_id, target_label, client_id, resource, ip, user_agent, request_id, data,
    prev_hash, hash)
SELECT CASE WHEN g %% 10 = 0 THEN %(b_chain)s ELSE %(a_chain)s END, %(offset)s + g,
    CASE WHEN g %% 10 = 0 THEN %(b)s::uuid ELSE %(a)s::uuid END,
    %(end)s::timestamptz - (g * interval '1 second' * %(spread)s),
    (%(actions)s::text[])[1 + g %% 40], CASE WHEN g %% 97 = 0 THEN 'warning' ELSE 'info' END, 'user',
    (g %% 2000)::text, 'user' || (g %% 2000) || '@bench.example', 'oauth.application', (g %% 20000)::text,
    'target', CASE WHEN g %% 3 = 0 THEN 'client-' || (g %% 300) ELSE '' END,
    CASE WHEN g %% 5 = 0 THEN 'https://r' || (g %% 100) || '.example/mcp' ELSE '' END,
    CASE WHEN g %% 2 = 0 THEN ('10.' || (g %% 200) || '.' || (g %% 250) || '.' || (g %% 251))::inet ELSE NULL END,
    'bench-agent', md5(g::text), '{"n": 1}', '', ''
FROM generate_series(%(start)s, %(stop)s) AS g
"""


ACTIONS: list[str] = []  # 40 registered event types, filled after django.setup()


def recreate_database():
    import psycopg

    url = urlsplit(os.environ["DATABASE_URL"])
    name = url.path.lstrip("/")
    if name in ("", "test", "postgres") or not name.startswith("bench"):
        sys.exit("DATABASE_URL must name a database starting with 'bench' (it is dropped and recreated)")
    admin = f"postgresql://{url.username or 'postgres'}@{url.hostname or '127.0.0.1'}:{url.port or 5432}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def timed(fn, repeat):
    samples = []
    for i in range(repeat):
        start = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def write_overhead(tenant, n=1000):
    """audit.record in its own transaction (as a service does), against an empty transaction doing one
    plain INSERT into a table with no chain and one index (what an un-audited write costs)."""
    from django.db import connection, transaction

    import audit
    from audit.services import Actor

    actor = Actor("bench", "1", "bench")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_plain (id bigserial primary key, tenant uuid, "
                       "at timestamptz default now(), action text, data jsonb)")

    def plain(i):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO bench_plain (tenant, action, data) VALUES (%s, %s, %s)",
                           [str(tenant.pk), "client.updated", '{"changed": ["name"]}'])

    def recorded(i):
        with transaction.atomic():
            audit.record(tenant, actor, "client.updated", ("oauth.application", i, "client"), changed=["name"],
                         client_id=f"client-{i % 50}")

    timed(plain, 100)
    timed(recorded, 100)  # warm-up: connection, signing key, caches
    return timed(plain, n), timed(recorded, n)


def search_cases(a):
    from audit.selectors import EventFilter

    return [
        ("newest 50 (no filter)", lambda i: EventFilter()),
        ("action", lambda i: EventFilter(action=ACTIONS[i % 40])),
        ("action family (e.g. client.)", lambda i: EventFilter(action=ACTIONS[i % 40].split(".")[0] + ".")),
        ("actor id", lambda i: EventFilter(actor=str(i * 7 % 2000))),
        ("actor e-mail", lambda i: EventFilter(actor=f"user{i * 7 % 2000}@bench.example")),
        ("target", lambda i: EventFilter(target_type="oauth.application", target_id=str(i * 13 % 20000))),
        ("severity warning", lambda i: EventFilter(severity="warning")),
        ("client", lambda i: EventFilter(client=f"client-{i * 3 % 300}")),
        ("resource", lambda i: EventFilter(resource=f"https://r{i * 5 % 100}.example/mcp")),
        ("ip", lambda i: EventFilter(ip=f"10.{i * 2 % 200}.{i * 2 % 250}.{i * 2 % 251}")),
        ("one day a month ago", lambda i: EventFilter(since=a["day"], until=a["day_end"])),
        ("action + one day", lambda i: EventFilter(action=ACTIONS[i % 40], since=a["day"], until=a["day_end"])),
    ]


def search_latency(tenant, window, repeat=30):
    from audit.selectors import search_events

    rows = []
    for label, make in search_cases(window):
        def run(i, make=make):
            list(search_events(tenant, make(i))[:50])

        run(0)
        samples = timed(run, repeat)
        rows.append((label, statistics.median(samples), pct(samples, 0.95)))
    return rows


def generate(a, b, start, stop, end, spread):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(GENERATE, {"a_chain": f"gen-{a.pk.hex}", "b_chain": f"gen-{b.pk.hex}", "a": str(a.pk),
                                  "b": str(b.pk), "offset": 1_000_000_000, "start": start, "stop": stop,
                                  "end": end, "spread": spread, "actions": ACTIONS})


def without_indexes(fill):
    """Bulk load the way one restores a dump: drop the secondary indexes, insert, build them again."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_auditevent' "
                       "AND indexname NOT LIKE '%%pkey' AND indexname <> 'audit_event_chain_seq'")
        definitions = cursor.fetchall()
        cursor.execute("ALTER TABLE audit_auditevent DROP CONSTRAINT audit_event_chain_seq")
        for name, _ in definitions:
            cursor.execute(f'DROP INDEX "{name}"')
    started = time.perf_counter()
    fill()
    inserted = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in definitions:
            cursor.execute(definition)
        cursor.execute("ALTER TABLE audit_auditevent ADD CONSTRAINT audit_event_chain_seq UNIQUE (chain, seq)")
        cursor.execute("VACUUM ANALYZE audit_auditevent")
    return inserted, time.perf_counter() - started - inserted


def table_size():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('audit_auditevent')), "
                       "pg_size_pretty(pg_relation_size('audit_auditevent'))")
        return cursor.fetchone()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ten-million", action="store_true", help="also grow to 10M events and measure again")
    parser.add_argument("--writes", type=int, default=1000)
    args = parser.parse_args()
    recreate_database()

    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from audit.events import REGISTRY
    from audit.services import Actor
    from tenants.services import tenant_create

    ACTIONS.extend(sorted(REGISTRY)[:40])
    call_command("migrate", verbosity=0)
    actor = Actor("bench", "", "bench")
    a = tenant_create(slug="bench-a", name="Bench A", actor=actor)
    b = tenant_create(slug="bench-b", name="Bench B", actor=actor)

    print(f"== load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (a shared machine)")
    print("== audit write overhead (one event per transaction, empty log)")
    plain, recorded = write_overhead(a, args.writes)
    print(f"{'write':40} {'p50 ms':>8} {'p95 ms':>8}")
    print(f"{'plain INSERT (no audit)':40} {statistics.median(plain):8.3f} {pct(plain, .95):8.3f}")
    print(f"{'audit.record (chain + hash + 11 idx)':40} {statistics.median(recorded):8.3f} {pct(recorded, .95):8.3f}")

    end = timezone.now()
    spread = 3.0  # seconds between generated events, newest first: 1M events span ~35 days, 10M a year
    window = {"day": end - timedelta(days=30), "day_end": end - timedelta(days=29)}
    results = {}
    sizes = [1_000_000] + ([10_000_000] if args.ten_million else [])
    done = 0
    for size in sizes:
        step = 1_000_000

        def fill(done=done, size=size, step=step):
            for chunk_start in range(done + 1, size + 1, step):
                generate(a, b, chunk_start, min(chunk_start + step - 1, size), end.isoformat(), spread)

        inserted, indexed = without_indexes(fill)
        done = size
        total, heap = table_size()
        print(f"== generated up to {size:,} events: insert {inserted:.0f} s, index build {indexed:.0f} s "
              f"(table {heap}, with indexes {total})")
        results[size] = search_latency(a, window)
        _, recorded_full = write_overhead(a, args.writes // 2)
        results[size].append(("audit.record at this size (write)", statistics.median(recorded_full),
                              pct(recorded_full, .95)))

    print(f"== load average at end: {os.getloadavg()[0]:.1f}")
    print("== search latency, one tenant (90% of rows), first page of 50, newest first")
    header = f"{'query':40}" + "".join(f" {f'p50 ms @{s // 1_000_000}M':>12} {f'p95 ms @{s // 1_000_000}M':>12}"
                                       for s in sizes)
    print(header)
    for i, (label, _, _) in enumerate(results[sizes[0]]):
        line = f"{label:40}"
        for size in sizes:
            _, p50, p95 = results[size][i]
            line += f" {p50:12.2f} {p95:12.2f}"
        print(line)


if __name__ == "__main__":
    main()
