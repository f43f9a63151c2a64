"""Token revocation and key rotation at scale on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_revocation .venv/bin/python bench/revocation_bench.py \
        [--tokens 1000000] [--tenants 1000]

The database named in DATABASE_URL is dropped and recreated (its name must start with "bench"). Then:

1. **Bulk revocation**: ``--tokens`` access tokens of one client (plus 10% as many of a bystander client,
   which must survive) are inserted set-based (``INSERT ... SELECT generate_series``), then revoked as the
   console and API do it: ``revocation_request`` commits a revocation mark, from which moment every lookup
   refuses the tokens. Prints (a) how long until revocation is effective: the request's commit plus the
   introspection-path lookup (``selectors.access_token_by_value``) of a sample of the revoked tokens, all
   refused, the bystander's sample still loading, and the lookup latency with and without a live mark;
   (b) the background purge, ``revocation_run`` (batches of 5 000, each one short transaction of a few
   set-based statements, the mark deleted with the last): tokens purged per second.
2. **Key rotation**: ``--tenants`` tenants (ES256 keys, so key generation does not dominate) whose active
   key is due and whose next key has been published long enough; one ``rotation_sweep`` rotates them all
   (row lock, promote, retire, publish a fresh next key, two audit events per tenant). Prints the time
   per 1 000 tenants, and the cost of the periodic check when nothing is due.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcp_platform.settings")

INSERT_TOKENS = """
INSERT INTO oauth_accesstoken (token, token_checksum, application_id, expires, scope, resource, created, updated,
    tenant_id, jti, audience, grant_type, code_checksum, kid)
SELECT '', encode(sha256(convert_to(%(prefix)s || g, 'UTF8')), 'hex'), %(client)s, now() + interval '1 hour',
    'tools:read', '[]'::jsonb, now(), now(), %(tenant)s, md5(%(prefix)s || g), 'https://mcp.bench.example/mcp',
    'client_credentials', '', %(kid)s
FROM generate_series(1, %(count)s) AS g
"""


def recreate_database():
    import psycopg

    url = urlsplit(os.environ["DATABASE_URL"])
    name = url.path.lstrip("/")
    if not name.startswith("bench"):
        sys.exit("DATABASE_URL must name a database starting with 'bench' (it is dropped and recreated)")
    admin = f"postgresql://{url.username or 'postgres'}@{url.hostname or '127.0.0.1'}:{url.port or 5432}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


SAMPLE = 1000


def _lookups(tenant, values) -> tuple[list, float]:
    """The introspection path's lookup of each value: (rows or None, median ms per lookup)."""
    from statistics import median

    from oauth.grants.selectors import access_token_by_value

    rows, times = [], []
    for value in values:
        start = time.perf_counter()
        rows.append(access_token_by_value(tenant, value))
        times.append(time.perf_counter() - start)
    return rows, median(times) * 1000


def bench_revocation(count: int, batch_size: int):
    import random

    from django.db import connection

    from audit.services import Actor
    from jobs.models import JobStatus
    from oauth.clients.services import client_create
    from oauth.grants import revocation
    from oauth.models import AccessToken, RevocationMark
    from tenants.services import tenant_create

    actor = Actor("bench", "", "bench")
    tenant = tenant_create(slug="bench", name="Bench", actor=actor)
    victim, _ = client_create(tenant=tenant, name="victim", client_type="confidential",
                              grant_types=["client_credentials"], actor=actor)
    bystander, _ = client_create(tenant=tenant, name="bystander", client_type="confidential",
                                 grant_types=["client_credentials"], actor=actor)
    start = time.perf_counter()
    with connection.cursor() as cursor:
        for client, n, prefix in ((victim, count, "v"), (bystander, count // 10, "b")):
            cursor.execute(INSERT_TOKENS, {"prefix": prefix, "client": client.pk, "tenant": tenant.pk, "kid": "k",
                                           "count": n})
        cursor.execute("ANALYZE oauth_accesstoken")
    print(f"inserted {count + count // 10:,} access tokens in {time.perf_counter() - start:.1f} s")

    rng = random.Random(9)
    victims = [f"v{rng.randint(1, count)}" for _ in range(SAMPLE)]
    bystanders = [f"b{rng.randint(1, count // 10)}" for _ in range(SAMPLE)]
    rows, unmarked_ms = _lookups(tenant, victims)
    assert all(rows), "a victim token did not load before the revocation"

    # (a) Effective: the request commits its mark; the very next lookup refuses, and so does every other
    # sampled token (looked up one by one afterwards), while the bystander's still load.
    start = time.perf_counter()
    run = revocation.revocation_request(tenant=tenant, actor=actor, client=victim, enqueue=False,
                                        batch_size=batch_size)
    committed = time.perf_counter() - start
    rows, _ = _lookups(tenant, victims[:1])
    effective = time.perf_counter() - start
    assert rows == [None], "the first revoked token looked up still loads"
    rows, marked_ms = _lookups(tenant, victims)
    verified = time.perf_counter() - start
    assert not any(rows), "a revoked token still loads"
    rows, bystander_ms = _lookups(tenant, bystanders)
    assert all(rows), "a bystander token was refused"
    print(f"revocation of {count:,} tokens effective {effective * 1000:,.0f} ms after the request started "
          f"(request and mark committed in {committed * 1000:.0f} ms, plus the first lookup); all {SAMPLE:,} "
          f"sampled tokens refused {verified:.1f} s after it (looked up one by one), {SAMPLE:,} of the "
          f"bystander's still load")
    print(f"introspection lookup, median: {unmarked_ms:.2f} ms with no mark, {marked_ms:.2f} ms refused by the "
          f"mark, {bystander_ms:.2f} ms for a bystander token while the mark lives")

    # (b) The purge, as the worker runs it.
    start = time.perf_counter()
    finished = revocation.revocation_run(run_id=run.pk)
    elapsed = time.perf_counter() - start
    assert finished.status == JobStatus.SUCCEEDED and finished.result == {"revoked": count}, finished.result
    assert not AccessToken.objects.filter(application=victim).exists()
    assert not RevocationMark.objects.exists()
    assert AccessToken.objects.filter(application=bystander).count() == count // 10
    print(f"purged {count:,} revoked tokens of one client in {elapsed:.1f} s: {count / elapsed:,.0f} tokens/s "
          f"(batches of {batch_size:,}; {count // 10:,} tokens of another client untouched; mark deleted)")
    return effective, count / elapsed


def bench_rotation(tenants: int):
    from django.db import transaction
    from django.utils import timezone

    from oauth.models import KeyAlgorithm, KeyState, SigningKey, TenantAuthSettings
    from oauth.signing import keys, rotation
    from tenants.models import Tenant

    start = time.perf_counter()
    made = Tenant.objects.bulk_create([Tenant(slug=f"t{i:05d}", name=f"Tenant {i}") for i in range(tenants)])
    long_ago = timezone.now() - timedelta(days=400)
    rows, settings_rows = [], []
    for tenant in made:
        settings_rows.append(TenantAuthSettings(tenant=tenant, signing_alg=KeyAlgorithm.ES256))
        for state in (KeyState.ACTIVE, KeyState.NEXT):
            kid, private, public = keys.generate(KeyAlgorithm.ES256)
            rows.append(SigningKey(tenant=tenant, kid=kid, alg=KeyAlgorithm.ES256, state=state, private_key=private,
                                   public_jwk=public, activated_at=long_ago if state == KeyState.ACTIVE else None))
    with transaction.atomic():
        TenantAuthSettings.objects.bulk_create(settings_rows)
        SigningKey.objects.bulk_create(rows)
        SigningKey.objects.filter(state=KeyState.NEXT).update(created_at=long_ago)  # published long ago: ripe
    print(f"set up {tenants:,} tenants with an overdue active key and a ripe next key in "
          f"{time.perf_counter() - start:.1f} s")

    start = time.perf_counter()
    due = rotation.due_tenant_ids()
    check = time.perf_counter() - start
    start = time.perf_counter()
    counts = rotation.rotation_sweep(tenant_ids=due)
    elapsed = time.perf_counter() - start
    assert counts["rotated"] == tenants and not counts["failed"], counts
    start = time.perf_counter()
    assert rotation.due_tenant_ids() == []
    idle = time.perf_counter() - start
    per_thousand = elapsed * 1000 / tenants
    print(f"rotated {tenants:,} tenants in {elapsed:.1f} s: {per_thousand:.1f} s per 1,000 tenants "
          f"({elapsed * 1000 / tenants:.1f} ms per tenant; finding the due ones took {check * 1000:.0f} ms)")
    print(f"the periodic check with nothing due: {idle * 1000:.0f} ms for {tenants:,} tenants")
    return per_thousand


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=5000, help="tokens per batch (the job's default)")
    args = parser.parse_args()
    recreate_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    bench_revocation(args.tokens, args.batch_size)
    bench_rotation(args.tenants)


if __name__ == "__main__":
    main()
