"""tenant_id on the chain heads, checkpoints and purge records (events and failure windows have it already),
so every audit table can be sharded by tenant. Backfilled from ``chain``, which names the tenant by its id
("platform" keeps NULL). Neither an event's hash nor a signature covers the new column: old rows verify as
before. Checkpoints and purge records are append-only (the trigger of 0003): the backfill lifts the trigger
for its own UPDATE only, inside this migration's transaction."""

import django.db.models.deletion
from django.db import migrations, models

TABLES = {"audit_auditchainhead": None, "audit_auditcheckpoint": "audit_checkpoint_append_only",
          "audit_auditpurge": "audit_purge_append_only"}


def _tenant_of_chain(vendor: str, table: str) -> str:
    # A tenant's chain is str(tenant.pk); SQLite stores a UUID as 32 hex digits without dashes.
    key = f"REPLACE({table}.chain, '-', '')" if vendor == "sqlite" else f"CAST({table}.chain AS uuid)"
    return f"(SELECT id FROM tenants_tenant WHERE id = {key})"


def backfill(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table, trigger in TABLES.items():
        update = (f"UPDATE {table} SET tenant_id = {_tenant_of_chain(vendor, table)} "
                  "WHERE chain <> 'platform' AND tenant_id IS NULL")
        if vendor != "postgresql" or trigger is None:
            schema_editor.execute(update, params=None)
            continue
        # The FK checks are deferred; run them now so that ALTER TABLE finds no pending trigger events.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE", params=None)
        schema_editor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}", params=None)
        schema_editor.execute(update, params=None)
        schema_editor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}", params=None)


def _tenant():
    return models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.PROTECT,
                             related_name="+", to="tenants.tenant")


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0009_failure_windows"),
        ("tenants", "0003_custom_domain_verification"),
    ]

    operations = [
        migrations.AddField("auditchainhead", "tenant", _tenant()),
        migrations.AddField("auditcheckpoint", "tenant", _tenant()),
        migrations.AddField("auditpurge", "tenant", _tenant()),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
