"""Every change of security state writes an audit event, and every event type is declared.

The static half reads every app's services.py: a public function that writes to the database (directly or
through a helper or another service) must record an audit event (directly or through a helper or another
service). Adding a service without an event fails ``test_every_state_changing_service_records_an_event``.
The dynamic half runs the tenants, identity and jobs services and checks the event each one writes.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings

import audit
from audit import events
from audit.models import AuditEvent
from audit.services import Actor, UnregisteredEventType

ROOT = Path(settings.BASE_DIR)
WRITE_CALLS = {"save", "create", "delete", "update", "bulk_create", "bulk_update", "get_or_create",
               "update_or_create", "set_password", "revoke_family", "_raw_delete", "create_user"}
# Public functions of a services.py that write but deliberately record nothing, each with its reason.
EXEMPT = {
    "audit.services.record": "it is the audit log's own writer",
    "jobs.services.job_enqueue": "job-log bookkeeping (a queued row); the run is audited when it starts (job.started)",
    "identity.services.federated_session_record": "bookkeeping for back-channel logout (session id of an SSO "
                                                  "sign-in); the sign-in itself is recorded as sso.signin_succeeded",
}


def our_service_modules() -> list[tuple[str, Path]]:
    """Every services.py of our apps, sub-packages included (oauth/registration/services.py)."""
    found = []
    for config in apps.get_app_configs():
        path = Path(config.path)
        if ROOT not in path.parents:
            continue
        for file in path.rglob("services.py"):
            module = ".".join(file.relative_to(ROOT).with_suffix("").parts)
            found.append((module, file))
    return sorted(found)


def _called_names(node: ast.AST) -> set[str]:
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            func = sub.func
            if isinstance(func, ast.Name):
                names.add(func.id)
            elif isinstance(func, ast.Attribute):
                # dict.update is not a write: "update" counts on a queryset chain or a manager only.
                if func.attr != "update" or isinstance(func.value, ast.Call) or ast.unparse(func.value).endswith(
                        "objects"):
                    names.add(func.attr)
                if isinstance(func.value, ast.Name) and func.value.id == "audit" and func.attr == "record":
                    names.add("audit.record")
    return names


def _is_atomic(fn: ast.FunctionDef) -> bool:
    return any("atomic" in ast.unparse(d) for d in fn.decorator_list)


def analyse() -> dict[str, dict]:
    """{qualified name: {"public", "writes", "records"}} for every module-level function of every
    services.py, computed to a fixed point over calls between them (by name, within and across modules)."""
    functions: dict[str, dict] = {}
    for module, path in our_service_modules():
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                calls = _called_names(node)
                functions[f"{module}.{node.name}"] = {
                    "module": module, "name": node.name, "public": not node.name.startswith("_"), "calls": calls,
                    "writes": _is_atomic(node) or bool(calls & WRITE_CALLS),
                    "records": "audit.record" in calls or (module == "audit.services" and "record" in calls),
                }
    by_name: dict[str, list[str]] = {}
    for qualified, info in functions.items():
        by_name.setdefault(info["name"], []).append(qualified)
    changed = True
    while changed:
        changed = False
        for info in functions.values():
            for called in info["calls"]:
                for other in by_name.get(called, ()):
                    for flag in ("writes", "records"):
                        if functions[other][flag] and not info[flag]:
                            info[flag] = changed = True
    return functions


def test_the_static_check_sees_every_app_with_services():
    modules = {m for m, _ in our_service_modules()}
    assert {"tenants.services", "jobs.services", "identity.services", "audit.services", "oauth.services",
            "oauth.registration.services", "mcp_registry.services"} <= modules
    functions = analyse()
    assert functions["tenants.services.tenant_create"]["writes"] and functions["tenants.services.tenant_create"][
        "records"]
    # Through job_run, which records: indirect calls count.
    assert functions["jobs.services.scheduler_heartbeat"]["records"]


def test_every_state_changing_service_records_an_event():
    functions = analyse()
    silent = sorted(q for q, info in functions.items()
                    if info["public"] and info["writes"] and not info["records"] and q not in EXEMPT)
    assert not silent, ("these services change state without audit.record (add the event, and its type to "
                        f"audit/events.py): {silent}")


def test_the_static_check_fails_a_service_without_an_event(tmp_path):
    source = ("from django.db import transaction\n\n@transaction.atomic\ndef client_create(*, tenant):\n"
              "    return Client.objects.create(tenant=tenant)\n")
    fn = ast.parse(source).body[1]
    calls = _called_names(fn)
    assert _is_atomic(fn) and "create" in calls and "audit.record" not in calls


def test_every_recorded_literal_action_is_registered():
    """Catches unregistered actions on code paths no test runs (strict mode catches the rest)."""
    unregistered = []
    for config in apps.get_app_configs():
        path = Path(config.path)
        if ROOT not in path.parents:
            continue
        for file in path.rglob("*.py"):
            if "migrations" in file.parts:
                continue
            for node in ast.walk(ast.parse(file.read_text())):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "record"
                        and isinstance(node.func.value, ast.Name) and node.func.value.id == "audit"
                        and len(node.args) >= 3 and isinstance(node.args[2], ast.Constant)):
                    if events.lookup(node.args[2].value) is None:
                        unregistered.append(f"{file.relative_to(ROOT)}:{node.lineno} {node.args[2].value}")
    assert not unregistered, f"add these to audit/events.py: {unregistered}"


def test_registry_entries_are_complete():
    for kind in events.REGISTRY.values():
        assert kind.name.count(".") >= 1 and kind.description and kind.severity in ("info", "notice", "warning",
                                                                                       "critical")


@pytest.mark.django_db
def test_unregistered_action_raises_in_strict_mode(make_tenant):
    tenant = make_tenant("acme")
    with pytest.raises(UnregisteredEventType, match="audit/events.py"):
        audit.record(tenant, Actor("test"), "nothing.registered")


@pytest.mark.django_db
def test_unregistered_action_is_recorded_with_a_warning_in_production(make_tenant, settings, caplog):
    tenant = make_tenant("acme")
    settings.AUDIT_STRICT = False
    event = audit.record(tenant, Actor("test"), "nothing.registered")
    assert AuditEvent.objects.filter(pk=event.pk, action="nothing.registered").exists()
    assert "not registered" in caplog.text


@pytest.mark.django_db
def test_severity_defaults_to_the_registered_one(make_tenant):
    tenant = make_tenant("acme")
    assert audit.record(tenant, Actor("test"), "tenant.suspended").severity == "warning"
    assert audit.record(tenant, Actor("test"), "tenant.suspended", severity="critical").severity == "critical"


# --- Dynamic: run each service of tenants, identity and jobs and read back its event -------------------

def _last(tenant, action):
    return AuditEvent.objects.filter(tenant=tenant, action=action).order_by("-seq").first()


@pytest.mark.django_db
def test_tenant_and_membership_services_record_their_events(make_user):
    from tenants import services

    actor = make_user("root@platform.example", is_staff=True)
    tenant = services.tenant_create(slug="dyn", name="Dyn", actor=actor)
    assert _last(tenant, "tenant.created").actor_label == actor.email
    services.tenant_update(tenant=tenant, actor=actor, display_name="Dynamic")
    assert _last(tenant, "tenant.updated").data == {"changed": ["display_name"]}
    services.tenant_suspend(tenant=tenant, actor=actor, reason="audit test")
    assert _last(tenant, "tenant.suspended").severity == "warning"
    services.tenant_reactivate(tenant=tenant, actor=actor)
    assert _last(tenant, "tenant.reactivated")
    owner = services.membership_add(tenant=tenant, email="o@dyn.example", role="owner", actor=actor)
    member = services.membership_add(tenant=tenant, email="m@dyn.example", role="member", actor=actor)
    assert _last(tenant, "membership.added").target_id == str(member.pk)
    services.membership_change_role(membership=member, role="admin", actor=actor)
    assert _last(tenant, "membership.role_changed").data["role"] == "admin"
    services.membership_remove(membership=member, actor=actor)
    assert _last(tenant, "membership.removed").data["email"] == "m@dyn.example"
    assert owner.pk


@pytest.mark.django_db
def test_identity_and_job_services_record_their_events(make_tenant, make_user):
    from identity.services import user_set_password
    from jobs.models import JobRun
    from jobs.services import job_request_cancel, job_run

    tenant = make_tenant("jobs")
    user = make_user("p@jobs.example")
    user_set_password(user=user, password="a-new-long-password", actor=user)
    event = AuditEvent.objects.filter(tenant=None, action="user.password_set").order_by("-seq").first()
    assert event.target_id == str(user.pk) and "a-new-long-password" not in str(event.data)
    with job_run("audit.test", tenant=tenant) as job:
        job.progress(1, 1)
    assert _last(tenant, "job.started") and _last(tenant, "job.finished").data["done"] == 1
    job_request_cancel(run=JobRun.objects.get(pk=job.run.pk), actor=user)
    assert _last(tenant, "job.cancel_requested")
    with pytest.raises(RuntimeError), job_run("audit.failing", tenant=tenant):
        raise RuntimeError("boom")
    assert _last(tenant, "job.failed").severity == "warning"


@pytest.mark.django_db
def test_sign_in_failure_is_a_security_event(client, make_world):
    world = make_world("acme")
    client.post(f"/t/{world.slug}/login", {"username": world.admin.email, "password": "wrong"}, REMOTE_ADDR="10.1.2.3")
    failed = AuditEvent.objects.filter(action="signin.failed").order_by("-id").first()
    assert failed is not None and failed.severity != "info" and failed.ip == "10.1.2.3"
    assert events.lookup("signin.failed").is_security


def test_suspicious_request_types_are_security_events():
    for name in ("security.cross_tenant_attempt", "security.code_replayed", "security.refresh_token_reused",
                 "security.pkce_failed", "security.suspicious_request", "token.code_replay"):
        assert events.lookup(name).severity in ("warning", "critical"), name


def test_audit_core_imports_none_of_our_apps():
    ours = {c.name for c in apps.get_app_configs() if ROOT in Path(c.path).parents} - {"audit"}
    for module in ("models", "services", "selectors", "hashing", "events", "keys"):
        tree = ast.parse((ROOT / "audit" / f"{module}.py").read_text())
        imported = {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not imported & ours, f"audit/{module}.py imports {imported & ours}"
    importlib.import_module("audit.services")
