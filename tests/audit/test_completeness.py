"""Every change of security state writes an audit event, and every event type is declared.

The static half reads every module of our apps (services, tasks, views, APIs, commands, engines such as
rotation and revocation; not models or migrations): a public function or method that writes to the database
(directly or through what it calls, resolved through its imports) must record an audit event (directly or
through what it calls), or be listed in EXEMPT with the reason. A new writer without an event fails
``test_every_state_changing_service_records_an_event``.
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
# The ORM's writes. Calls on a cache (cache.delete, ...) are not state; a plain dict's update is not either.
WRITE_CALLS = {"save", "create", "delete", "update", "bulk_create", "bulk_update", "get_or_create",
               "update_or_create", "set_password", "revoke_family", "_raw_delete", "create_user"}
# Calls that put an event in the audit log.
RECORDERS = {"audit.record", "audit.failure", "audit.services.record", "audit.failures.failure"}
# Files that hold no state change of their own: schema history, configuration, and the model classes
# whose save()/delete() overrides are what the services call.
SKIPPED = ({"migrations"}, {"models.py", "settings.py"})
# Public functions and methods that write but deliberately record nothing, each with its reason.
EXEMPT = {
    "audit.services.record": "it is the audit log's own writer",
    "audit.keys.active_key": "creates the platform audit key on the first checkpoint, inside record(): an event "
                             "there would recurse; every checkpoint names the key's kid",
    "audit.keys.sign": "through active_key (above)",
    "jobs.services.job_enqueue": "job-log bookkeeping (a queued row); the run is audited when it starts (job.started)",
    "jobs.services.JobHandle.progress": "job-log progress counters; the run's start and end are audited",
    "identity.services.federated_session_record": "bookkeeping for back-channel logout (session id of an SSO "
                                                  "sign-in); the sign-in itself is recorded as sso.signin_succeeded",
    "identity.people.sessions.session_opened": "the tracked-session row of a sign-in, which is itself recorded "
                                               "(signin.succeeded); ending sessions is audited (sessions.ended)",
    "identity.people.sessions.session_touched": "a session's last use and address, at most once a minute",
    "identity.people.sessions.session_closed": "forgets the row of a sign-out, which is recorded (signin.signed_out)",
    "identity.people.sessions.live_sessions": "drops rows of sessions that already expired (nothing ends here)",
    "identity.people.sessions.forget_expired": "the cleanup job's part: rows older than any session can live",
    "identity.people.views.SessionsView.get": "lists sessions, dropping rows of expired ones (live_sessions)",
    "identity.backends.EmailBackend.authenticate": "set_password on an unsaved User() only evens out the timing of "
                                                   "unknown e-mails; nothing is written (sign-ins are audited by the "
                                                   "login view)",
    "kit.db.delete_where": "the kit's compiled DELETE (imports no app); its one caller, the validator's "
                           "invalidate_authorization_code, uses up a code the audited exchange redeems",
    "kit.crypto.rewrap_all": "kit imports no app: its caller (oauth.signing.rotation) records each re-wrapped row "
                             "through on_rewrapped",
    "kit.tenant_owned.TenantOfParentQuerySet.bulk_create": "the link-table manager's own bulk_create (fills tenant_id)",
    "kit.tenant_owned.TenantScopedQuerySet.update": "Django's update, after refusing an unbound query in request "
                                                    "code; its callers record what they change",
    "kit.tenant_owned.TenantScopedQuerySet.delete": "Django's delete, after refusing an unbound query in request "
                                                    "code; its callers record what they delete",
    "oauth.protocol.client_auth.verify_assertion": "the replay guard of private_key_jwt (a row per assertion jti); "
                                                   "the token it authenticates is audited by the token endpoint",
    "oauth.protocol.validators.TenantOAuth2Validator.finalize_id_token":
        "the ID token's row beside the access token, which save_bearer_token audits (token.issued)",
    "oauth.protocol.validators.TenantOAuth2Validator.invalidate_authorization_code":
        "a code is used up by the exchange that save_bearer_token audits",
    "oauth.grants.revocation.revoke_batch": "the revocation engine's batch: its callers audit (revocation_request, "
                                            "the synchronous revocations of oauth.grants.services and "
                                            "oauth.clients.services, the job's job.started/finished)",
    "oauth.grants.revocation.revoke_now": "the same engine, synchronously; its callers audit",
    "oauth.grants.revocation.revoke_at_once": "the engine's synchronous entry (codes, then revoke_now); its callers "
                                              "audit (consent_revoke, tokens_revoke_for, user_access_end, "
                                              "client_update, client_set_status)",
    "oauth.grants.revocation.purge_expired": "deletes rows already expired or revoked (no security state changes); "
                                             "the purge job's run is audited",
    "oauth.grants.revocation.send": "hands a queued run to the broker and notes a broker error on the job-log row",
    "oauth.tasks.resume_stalled_jobs": "re-sends queued revocation runs (oauth.grants.revocation.send)",
}


def _module_name(file: Path) -> str:
    parts = file.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def our_modules() -> list[tuple[str, Path]]:
    """Every module of our apps, sub-packages, tasks, views, APIs and commands included."""
    found = []
    packages = {Path(c.path) for c in apps.get_app_configs() if ROOT in Path(c.path).parents
                and not {".venv", "site-packages"} & set(Path(c.path).parts)}
    for path in sorted(packages | {ROOT / "kit"}):  # kit is no Django app, and writes (the key re-wrap)
        for file in path.rglob("*.py"):
            if SKIPPED[0] & set(file.parts) or file.name in SKIPPED[1]:
                continue
            found.append((_module_name(file), file))
    return sorted(found)


def _imports(tree: ast.AST, module: str, is_package: bool) -> dict[str, str]:
    """{local name: dotted name it stands for}, imports in function bodies included."""
    package = module if is_package else module.rpartition(".")[0]
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:  # "import a.b" binds a; "import a.b as c" binds c to a.b
                names[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(
                    ".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                names[alias.asname or alias.name] = f"{base}.{alias.name}"
    return names


def _calls(fn: ast.AST, module: str, cls: str | None, imported: dict[str, str]) -> tuple[set[str], set[str]]:
    """(ORM write verbs called, dotted names of the functions called) of one function."""
    verbs, targets = set(), set()
    for sub in ast.walk(fn):
        if not isinstance(sub, ast.Call):
            continue
        func = sub.func
        if isinstance(func, ast.Name):
            targets.add(imported.get(func.id, f"{module}.{func.id}"))
            continue
        if not isinstance(func, ast.Attribute):
            continue
        receiver = ast.unparse(func.value)
        head = receiver.split(".")[0]
        if receiver == "self" and cls:
            targets.add(f"{module}.{cls}.{func.attr}")
        elif head in imported and not isinstance(func.value, ast.Call):
            targets.add(f"{imported[head]}{receiver[len(head):]}.{func.attr}")
        if func.attr in WRITE_CALLS and not receiver.rsplit(".", 1)[-1].endswith("cache"):  # caches are no state
            # dict.update is not a write: "update" counts on a queryset chain or a manager only.
            if func.attr != "update" or isinstance(func.value, ast.Call) or receiver.endswith("objects"):
                verbs.add(func.attr)
    return verbs, targets


def _is_atomic(fn: ast.FunctionDef) -> bool:
    return any("atomic" in ast.unparse(d) for d in fn.decorator_list)


def analyse() -> dict[str, dict]:
    """{qualified name: {"public", "writes", "records"}} for every module-level function and method of every
    module of our apps, computed to a fixed point over the calls between them, resolved through imports."""
    functions: dict[str, dict] = {}
    for module, path in our_modules():
        tree = ast.parse(path.read_text())
        imported = _imports(tree, module, path.name == "__init__.py")
        for node in tree.body:
            members = [(node.name, node, None)] if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else []
            if isinstance(node, ast.ClassDef):
                members = [(f"{node.name}.{m.name}", m, node.name) for m in node.body
                           if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))]
            for name, fn, cls in members:
                verbs, targets = _calls(fn, module, cls, imported)
                functions[f"{module}.{name}"] = {
                    "public": not name.rsplit(".", 1)[-1].startswith("_"), "calls": targets,
                    "writes": _is_atomic(fn) or bool(verbs), "records": bool(targets & RECORDERS),
                }
    changed = True
    while changed:
        changed = False
        for info in functions.values():
            for called in info["calls"]:
                other = functions.get(called)
                for flag in ("writes", "records"):
                    if other and other[flag] and not info[flag]:
                        info[flag] = changed = True
    return functions


def test_the_static_check_sees_every_module_that_writes():
    modules = {m for m, _ in our_modules()}
    assert {"tenants.services", "jobs.services", "identity.services", "audit.services",
            "oauth.clients.services", "oauth.grants.services", "oauth.signing.services", "oauth.config.services",
            "oauth.registration.services", "mcp_registry.services", "tenants.domains", "identity.sso.oidc",
            "audit.streaming", "kit.crypto", "tenants.management.commands.create_tenant_admin"} <= modules
    assert not {m for m in modules if ".migrations." in m or m.endswith(".models")}
    functions = analyse()
    assert functions["tenants.services.tenant_create"]["writes"] and functions["tenants.services.tenant_create"][
        "records"]
    # Through job_run, which records: indirect calls count, across modules, resolved through imports.
    assert functions["jobs.services.scheduler_heartbeat"]["records"]
    # Writers outside services.py are seen, with their events: methods, tasks and commands included.
    assert functions["oauth.grants.revocation.revoke_batch"]["writes"]
    delivery = functions["audit.streaming.deliver_batch"]
    assert delivery["writes"] and delivery["records"]
    assert functions["tenants.management.commands.create_tenant_admin.Command.handle"]["records"]


def test_every_exemption_names_a_function_that_writes():
    functions = analyse()
    stale = sorted(q for q in EXEMPT if q not in functions or not functions[q]["writes"])
    assert not stale, f"remove these from EXEMPT (gone, renamed, or no longer writing): {stale}"


def test_every_state_changing_service_records_an_event():
    functions = analyse()
    silent = sorted(q for q, info in functions.items()
                    if info["public"] and info["writes"] and not info["records"] and q not in EXEMPT)
    assert not silent, ("these services change state without audit.record (add the event, and its type to "
                        f"audit/events.py): {silent}")


def test_the_static_check_fails_a_writer_without_an_event():
    source = ("from django.db import transaction\nimport audit\n\n@transaction.atomic\ndef client_create(*, tenant):\n"
              "    return Client.objects.create(tenant=tenant)\n\n"
              "def client_delete(client):\n    client.delete()\n    audit.record(None, None, 'client.deleted')\n")
    tree = ast.parse(source)
    imported = _imports(tree, "oauth.example", False)
    silent, audited = tree.body[2], tree.body[3]
    verbs, targets = _calls(silent, "oauth.example", None, imported)
    assert _is_atomic(silent) and "create" in verbs and not targets & RECORDERS
    verbs, targets = _calls(audited, "oauth.example", None, imported)
    assert "delete" in verbs and "audit.record" in targets


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
