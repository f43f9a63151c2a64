"""Every table of our apps is tenant-owned (a ``tenant_id`` column, so that it can be sharded by tenant, e.g.
with Citus) or declared platform-wide below with the reason. A new model that is neither fails here."""

import pytest
from django.apps import apps
from django.db import connection

OUR_APPS = {"kit", "audit", "jobs", "tenants", "mcp_registry", "oauth", "identity", "mcp_platform"}

# Tables whose rows belong to no tenant.
PLATFORM_WIDE = {
    "tenants.Tenant": "the tenants themselves",
    "identity.User": "a person is one account across tenants; Membership (tenant-owned) says where they belong",
    "identity.User_groups": "Django's groups of a user, used by platform staff only",
    "identity.User_user_permissions": "Django's permissions of a user, used by platform staff only",
    "audit.AuditSigningKey": "the platform's one checkpoint signing key (and its retired public halves)",
    "oauth.TokenSummaryCursor": "one row per kind of machine-token summary, over every tenant",
}

# Tenant-owned tables that also hold platform rows, where tenant_id is NULL.
TENANT_OR_PLATFORM = {
    "audit.AuditEvent": "the platform chain's events (chain 'platform') have no tenant",
    "audit.AuditChainHead": "the platform chain's head",
    "audit.AuditCheckpoint": "checkpoints of the platform chain",
    "audit.AuditPurge": "purges of the platform chain",
    "audit.FailureWindow": "refused requests no tenant was found for (the platform chain)",
    "jobs.JobRun": "platform jobs (key re-wrap, summaries, cleanups over every tenant)",
    "identity.PasswordReset": "a reset asked at the console's sign-in page belongs to no tenant (the account is "
                              "platform-wide)",
    "identity.UserSession": "a session signed in at the console belongs to no tenant (it may act at several)",
}

# Tenant-owned tables whose tenant_id leads no index, each with the index that serves instead.
NO_TENANT_INDEX = {
    "audit.FailureWindow": "its indexes lead with chain, the tenant's id as text; a hot write path, so no more",
}


def our_models():
    return [m for m in apps.get_models(include_auto_created=True) if m._meta.app_config.name in OUR_APPS]


def _tenant_field(model):
    return next((f for f in model._meta.concrete_fields if f.column == "tenant_id"), None)


def test_every_model_is_tenant_owned_or_declared_platform_wide():
    undeclared, both = [], []
    for model in our_models():
        label = model._meta.label
        if _tenant_field(model) is None:
            if label not in PLATFORM_WIDE:
                undeclared.append(label)
        elif label in PLATFORM_WIDE:
            both.append(label)
    assert not undeclared, (f"give these models a tenant_id (kit's TenantOwned, or a foreign key to "
                            f"'tenants.Tenant') or declare them in PLATFORM_WIDE with the reason: {undeclared}")
    assert not both, f"these have tenant_id: remove them from PLATFORM_WIDE: {both}"
    labels = {m._meta.label for m in our_models()}
    stale = sorted((set(PLATFORM_WIDE) | set(TENANT_OR_PLATFORM) | set(NO_TENANT_INDEX)) - labels)
    assert not stale, f"no such models any more: {stale}"


def test_tenant_id_is_a_non_null_foreign_key_to_the_tenant_unless_declared():
    nullable, wrong_target = [], []
    for model in our_models():
        field = _tenant_field(model)
        if field is None:
            continue
        if field.related_model is not apps.get_model("tenants", "Tenant"):
            wrong_target.append(model._meta.label)
        if field.null != (model._meta.label in TENANT_OR_PLATFORM):
            nullable.append(f"{model._meta.label} (null={field.null})")
    assert not wrong_target, f"tenant_id must reference tenants.Tenant: {wrong_target}"
    assert not nullable, ("tenant_id is NOT NULL except in TENANT_OR_PLATFORM (rows of the platform); "
                          f"fix the field or the list: {nullable}")


@pytest.mark.django_db
def test_tenant_id_leads_an_index_of_every_tenant_owned_table():
    missing = []
    with connection.cursor() as cursor:
        for model in our_models():
            if _tenant_field(model) is None or model._meta.label in NO_TENANT_INDEX:
                continue
            constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
            if not any(c["columns"] and c["columns"][0] == "tenant_id"
                       and (c["index"] or c["unique"] or c["primary_key"]) for c in constraints.values()):
                missing.append(model._meta.label)
    assert not missing, f"no index starts with tenant_id on: {missing}"
