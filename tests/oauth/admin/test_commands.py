"""manage.py create_api_client makes a tenant's first API client through the services (audited, secret
shown once); DOT's tenant-blind commands are hidden from `manage.py help` and refuse to run."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from tests.oauth.flows import basic

REPO = Path(__file__).resolve().parents[3]
DOT_COMMANDS = ("createapplication", "cleartokens", "clearcimdapplications")


@pytest.mark.django_db
def test_create_api_client_prints_a_working_secret_once_and_is_audited(world, client):
    from oauth.models import Application, api_audience

    out = StringIO()
    call_command("create_api_client", world.slug, "CI bot", "admin:clients.read", "admin:audit.read", stdout=out)
    lines = dict(line.split(": ", 1) for line in out.getvalue().splitlines() if ": " in line)
    client_id, secret = lines["client_id"], lines["client_secret (shown once)"]
    app = Application.objects.get(tenant=world.tenant, client_id=client_id)
    assert (app.client_type, app.name, app.allowed_scopes.split()) == (
        "confidential", "CI bot", ["admin:clients.read", "admin:audit.read"])
    assert secret not in (app.client_secret or "")  # only a digest is kept
    event = AuditEvent.objects.get(chain=str(world.tenant.pk), action="client.created")
    assert (event.actor_type, event.actor_id) == ("operator", "cli")

    token = client.post(f"/t/{world.slug}/token", {"grant_type": "client_credentials",
                                                   "resource": api_audience(), "scope": "admin:clients.read"},
                        HTTP_AUTHORIZATION=basic(client_id, secret))
    assert token.status_code == 200, token.content
    bearer = f"Bearer {token.json()['access_token']}"
    assert client.get("/api/v1/clients", HTTP_AUTHORIZATION=bearer).status_code == 200
    assert client.get("/api/v1/members", HTTP_AUTHORIZATION=bearer).status_code == 403  # only its scopes


@pytest.mark.django_db
def test_create_api_client_refuses_scopes_outside_the_admin_set_and_unknown_tenants(world):
    from oauth.models import Application

    with pytest.raises(CommandError, match="not admin scopes: files:read"):
        call_command("create_api_client", world.slug, "Bot", "admin:clients", "files:read")
    with pytest.raises(CommandError, match="no tenant with slug 'nope'"):
        call_command("create_api_client", "nope", "Bot", "admin:clients")
    assert not Application.objects.filter(tenant=world.tenant, name="Bot").exists()


@pytest.mark.django_db
def test_dot_commands_refuse_to_run_and_say_what_to_use_instead():
    for name, instead in zip(DOT_COMMANDS, ("create_api_client", "oauth.purge_expired_tokens",
                                            "DELETE /api/v1/clients"), strict=True):
        with pytest.raises(CommandError, match=instead):
            call_command(name)


def test_manage_py_help_hides_them_and_the_real_argv_is_refused_too():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mcp_platform.settings"}
    listed = subprocess.run([sys.executable, "manage.py", "help", "--commands"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    names = set(listed.stdout.split())
    assert "create_api_client" in names and "migrate" in names, listed.stderr
    assert not names & set(DOT_COMMANDS)
    grouped = subprocess.run([sys.executable, "manage.py", "help"], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=60).stdout
    assert "create_api_client" in grouped and not any(name in grouped for name in DOT_COMMANDS)
    assert "dot_commands" not in grouped and "oauth2_provider" not in grouped
    # DOT's own flags are not even parsed: the refusal comes first, with a non-zero exit.
    refused = subprocess.run([sys.executable, "manage.py", "createapplication", "confidential",
                              "client-credentials", "--name", "x"], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 1 and "create_api_client" in refused.stderr
