"""Builders for the key-rotation and revocation tests: token rows inserted set-based (100k in a second or
two), and a world with a resource, an agent client and a resource server that may introspect."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from oauth.models import AccessToken


def token_value(prefix: str, n: int) -> str:
    """The (fake) token string whose checksum row ``insert_tokens`` stores, so it can be introspected."""
    return f"{prefix}-{n}"


def insert_tokens(*, tenant, client, count: int, prefix: str, audience: str = "", kid: str = "", user=None,
                  lifetime: int = 3600) -> None:
    """``count`` access-token rows for ``client``: one INSERT ... SELECT generate_series on PostgreSQL, one
    executemany on SQLite (the embedded lane), the same rows."""
    table = AccessToken._meta.db_table
    expires = timezone.now() + timedelta(seconds=lifetime)
    columns = ("token, token_checksum, application_id, user_id, expires, scope, resource, created, updated, "
               "tenant_id, jti, audience, grant_type, code_checksum, kid")
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            names = [c.strip() for c in columns.split(",")]
            now = timezone.now()

            def row(g: int) -> list:
                values = ["", checksum(token_value(prefix, g)), client.pk, user.pk if user else None, expires,
                          "tools:read", [], now, now, tenant.pk, hashlib.md5(f"{prefix}{g}".encode()).hexdigest(),
                          audience, "client_credentials", "", kid]
                return [AccessToken._meta.get_field(n.removesuffix("_id")).get_db_prep_save(v, connection)
                        for n, v in zip(names, values, strict=True)]

            rows = [row(g) for g in range(count)]
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * 15)})", rows)
            return
        cursor.execute(
            f"""INSERT INTO {table} ({columns})
                SELECT '', encode(sha256(convert_to(%s || '-' || g, 'UTF8')), 'hex'), %s, %s, %s, 'tools:read',
                    '[]'::jsonb, now(), now(), %s, md5(%s || g), %s, 'client_credentials', '', %s
                FROM generate_series(0, %s - 1) AS g""",
            [prefix, client.pk, user.pk if user else None, expires, tenant.pk, prefix, audience, kid, count])


def checksum(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass
class Setup:
    tenant: object
    resource: object
    agent: object
    agent_secret: str
    server: object          # the resource server's own client (introspection)
    server_secret: str
