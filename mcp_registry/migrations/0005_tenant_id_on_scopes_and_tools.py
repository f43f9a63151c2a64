"""tenant_id on every row under a resource (scopes, tools, and the tool-scope link table), so that every
tenant-owned table can be sharded by tenant_id: added nullable, backfilled from the resource, then made
non-null. The implicit link table of ``ResourceTool.required_scopes`` becomes the explicit model
``ResourceToolScope`` over the same table and columns (Django's documented state-only change)."""

import django.db.models.deletion
from django.db import migrations, models

TENANT = dict(on_delete=django.db.models.deletion.CASCADE, related_name="%(app_label)s_%(class)s_set",
              to="tenants.tenant")

# Correlated subqueries: the same SQL on PostgreSQL and on the embedded SQLite lane.
BACKFILL = [
    "UPDATE mcp_registry_resourcescope SET tenant_id = (SELECT r.tenant_id FROM mcp_registry_mcpresource r"
    " WHERE r.id = mcp_registry_resourcescope.resource_id) WHERE tenant_id IS NULL",
    "UPDATE mcp_registry_resourcetool SET tenant_id = (SELECT r.tenant_id FROM mcp_registry_mcpresource r"
    " WHERE r.id = mcp_registry_resourcetool.resource_id) WHERE tenant_id IS NULL",
    "UPDATE mcp_registry_resourcetool_required_scopes SET tenant_id = (SELECT t.tenant_id FROM"
    " mcp_registry_resourcetool t WHERE t.id = mcp_registry_resourcetool_required_scopes.resourcetool_id)"
    " WHERE tenant_id IS NULL",
]


def backfill(apps, schema_editor):
    for statement in BACKFILL:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ("mcp_registry", "0004_admits_self_registered"),
        ("tenants", "0003_custom_domain_verification"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ResourceToolScope",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),
                        ("resourcescope", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                                            to="mcp_registry.resourcescope")),
                        ("resourcetool", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                                           to="mcp_registry.resourcetool")),
                    ],
                    options={
                        "db_table": "mcp_registry_resourcetool_required_scopes",
                        "unique_together": {("resourcetool", "resourcescope")},
                    },
                ),
                migrations.AlterField(
                    model_name="resourcetool",
                    name="required_scopes",
                    field=models.ManyToManyField(blank=True, related_name="tools",
                                                 through="mcp_registry.ResourceToolScope",
                                                 to="mcp_registry.resourcescope"),
                ),
            ],
            database_operations=[],
        ),
        migrations.AddField("resourcescope", "tenant", models.ForeignKey(null=True, **TENANT)),
        migrations.AddField("resourcetool", "tenant", models.ForeignKey(null=True, **TENANT)),
        migrations.AddField("resourcetoolscope", "tenant", models.ForeignKey(null=True, **TENANT)),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField("resourcescope", "tenant", models.ForeignKey(**TENANT)),
        migrations.AlterField("resourcetool", "tenant", models.ForeignKey(**TENANT)),
        migrations.AlterField("resourcetoolscope", "tenant", models.ForeignKey(**TENANT)),
    ]
