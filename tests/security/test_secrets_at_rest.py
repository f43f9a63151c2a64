"""Secrets at rest: after one of everything that has a secret exists (client secrets, registration access
tokens, initial access tokens, IdP client secrets, audit sink secrets, a registration webhook secret, a
resource's management token, signing keys, access and refresh tokens, a pending authorization code), no
column of any table holds one in the clear. The scan reads the database the way an attacker with a dump
would: every text, JSON and binary column of every table."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

TEXTUAL = ("text", "character varying", "character", "json", "jsonb", "bytea", "ARRAY")


def _columns() -> list[tuple[str, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT table_name, column_name, data_type FROM information_schema.columns "
                       "WHERE table_schema = current_schema() AND data_type = ANY(%s) "
                       "ORDER BY table_name, ordinal_position", [list(TEXTUAL)])
        return cursor.fetchall()


def _dump() -> dict[str, str]:
    """``table.column`` -> every value of that column, concatenated (bytea read as text)."""
    dump = {}
    with connection.cursor() as cursor:
        for table, column, data_type in _columns():
            value = f'encode("{column}", \'escape\')' if data_type == "bytea" else f'"{column}"::text'
            cursor.execute(f'SELECT string_agg({value}, %s) FROM "{table}"', ["\n"])
            dump[f"{table}.{column}"] = cursor.fetchone()[0] or ""
    return dump


def _secret_values(estates) -> dict[str, str]:
    from kit import crypto
    from mcp_registry.services import resource_set_management_token
    from oauth.models import SigningKey
    from oauth.signing.keys import _aad
    from tests.factories import ACTOR

    values = {}
    for estate in estates:
        names = ["client secret", "access token", "refresh token", "API token", "IdP client secret",
                 "sink secret", "registered client secret", "registration access token", "initial access token",
                 "registration webhook secret", "pending authorization code"]
        shown = [estate.agent_secret, estate.user_token["access_token"], estate.user_token.get("refresh_token"),
                 estate.api_token, estate.idp_secret, estate.sink_secret, estate.registration_secret,
                 estate.registration_token, estate.iat_token, estate.secrets[-3], estate.secrets[-2]]
        for name, value in zip(names, shown, strict=True):
            assert value, f"{estate.slug}: the builder produced no {name}"
            values[f"{estate.slug} {name}"] = value
        token = f"mgmt-{estate.slug}-7c1e9a4b2d5f8e3a"
        resource_set_management_token(resource=estate.resource, actor=ACTOR, token=token)
        values[f"{estate.slug} resource management token"] = token
        for key in SigningKey.objects.unscoped().filter(tenant=estate.tenant):
            pem = crypto.decrypt(key.private_key, aad=_aad(key.kid)).decode()
            body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
            values[f"{estate.slug} signing key {key.kid}"] = body[1] if len(body) > 1 else body[0]
    return values


def test_no_secret_or_token_is_stored_in_the_clear(full_estates):
    secrets = _secret_values(full_estates)
    dump = _dump()
    assert len(dump) > 50, "the scan reads the whole schema"
    found = [f"{name} in {column}" for name, value in secrets.items() for column, text in dump.items()
             if value in text]
    assert not found, "secrets stored in the clear:\n" + "\n".join(found)


def test_the_scan_sees_a_secret_written_in_the_clear(full_estates):
    """The scan itself can fail: a value planted in a text column is found."""
    a, _ = full_estates
    from tenants.models import Tenant

    Tenant.objects.filter(pk=a.tenant.pk).update(name=f"planted {a.agent_secret}")
    dump = _dump()
    assert any(a.agent_secret in text for text in dump.values())
