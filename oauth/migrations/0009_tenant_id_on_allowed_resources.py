"""tenant_id on the link table of ``Application.allowed_resources``, so that every tenant-owned table can be
sharded by tenant_id: the implicit link table becomes the explicit model ``ApplicationResource`` over the
same table and columns (Django's documented state-only change), then tenant_id is added nullable, backfilled
from the client, and made non-null."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

TENANT = dict(on_delete=django.db.models.deletion.CASCADE, related_name="%(app_label)s_%(class)s_set",
              to="tenants.tenant")

# A correlated subquery: the same SQL on PostgreSQL and on the embedded SQLite lane.
BACKFILL = ("UPDATE oauth_application_allowed_resources SET tenant_id = (SELECT a.tenant_id FROM oauth_application a"
            " WHERE a.id = oauth_application_allowed_resources.application_id) WHERE tenant_id IS NULL")


def backfill(apps, schema_editor):
    schema_editor.execute(BACKFILL, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ("mcp_registry", "0005_tenant_id_on_scopes_and_tools"),
        ("oauth", "0008_default_resource"),
        ("tenants", "0003_custom_domain_verification"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ApplicationResource",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),
                        ("application", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                                          to=settings.OAUTH2_PROVIDER_APPLICATION_MODEL)),
                        ("mcpresource", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                                          to="mcp_registry.mcpresource")),
                    ],
                    options={
                        "db_table": "oauth_application_allowed_resources",
                        "unique_together": {("application", "mcpresource")},
                    },
                ),
                migrations.AlterField(
                    model_name="application",
                    name="allowed_resources",
                    field=models.ManyToManyField(
                        blank=True, help_text="MCP servers this client may get tokens for; none = none.",
                        related_name="clients", through="oauth.ApplicationResource", to="mcp_registry.mcpresource"),
                ),
            ],
            database_operations=[],
        ),
        migrations.AddField("applicationresource", "tenant", models.ForeignKey(null=True, **TENANT)),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField("applicationresource", "tenant", models.ForeignKey(**TENANT)),
    ]
