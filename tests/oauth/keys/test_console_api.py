"""The jobs and key-rotation slice of the REST API and console: lists, live progress, cancel, bulk
revocation requests, rotation policy, rotate-now and emergency rotation; another tenant's credentials,
tokens and object ids are refused everywhere."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from audit.models import AuditEvent
from jobs.models import JobRun, JobStatus
from oauth.grants import revocation
from oauth.models import AccessToken, KeyState, SigningKey
from oauth.signing import rotation
from tests.factories import ACTOR, PASSWORD, add_member
from tests.tenants.test_console_browser import sign_in

from .helpers import insert_tokens

pytestmark = pytest.mark.embedded  # also on SQLite without Redis (test.sh's embedded lane)


def queued_revocation(estate) -> JobRun:
    return revocation.revocation_request(tenant=estate.tenant, actor=ACTOR, client=estate.client, enqueue=False)


@pytest.mark.django_db
def test_jobs_api_shows_this_tenants_jobs_only_and_cancels_them(estates, session_api, token_api):
    a, b = estates
    run_a, run_b = queued_revocation(a), queued_revocation(b)
    api = session_api(a.world.admin, a.world.slug)
    listed = api.get("jobs").json()["results"]
    assert [j["id"] for j in listed] == [str(run_a.pk)] and listed[0]["status"] == "queued"
    assert api.get(f"jobs/{run_b.pk}").status_code == 404
    assert api.post(f"jobs/{run_b.pk}/cancel").status_code == 404
    assert not JobRun.objects.get(pk=run_b.pk).cancel_requested
    answer = api.post(f"jobs/{run_a.pk}/cancel")
    assert answer.status_code == 200 and answer.json()["cancel_requested"] is True
    assert api.get("jobs/not-a-uuid").status_code == 404

    bravo_bot = token_api(b)
    assert bravo_bot.get(f"jobs/{run_a.pk}").status_code == 404
    assert [j["id"] for j in bravo_bot.get("jobs").json()["results"]] == [str(run_b.pk)]
    assert token_api(b, scope="admin:tokens.read").get("jobs").status_code == 403
    auditor = session_api(a.world.auditor, a.world.slug)
    assert auditor.get("jobs").status_code == 200 and auditor.post(f"jobs/{run_a.pk}/cancel").status_code == 403


@pytest.mark.django_db
def test_revocation_jobs_through_the_api_name_only_this_tenants_clients(estates, session_api):
    a, b = estates
    api = session_api(a.world.admin, a.world.slug)
    refused = api.post("token-revocations", {"client_id": b.client.client_id})
    assert refused.status_code == 400 and refused.json()["error"]["fields"]["client_id"]
    assert api.post("token-revocations", {}).json()["error"]["message"].startswith("name a client")
    answer = api.post("token-revocations", {"client_id": a.client.client_id, "resource": "files"})
    assert answer.status_code == 202 and answer.json()["status"] == "queued"
    params = answer.json()["params"]
    assert params == {"client": a.client.pk, "resource": a.resource.uri, "issued_before": params["issued_before"]}
    run = revocation.revocation_run(run_id=answer.json()["id"])
    assert run.result == {"revoked": 2}  # the access token and its refresh token
    assert AccessToken.objects.filter(tenant=b.tenant).exists()


@pytest.mark.django_db
def test_rotation_policy_rotate_now_and_emergency_through_the_api(estates, session_api, token_api):
    a, b = estates
    api = session_api(a.world.admin, a.world.slug)
    assert api.get("key-rotation/policy").json() == {"enabled": True, "rotation_interval": 90 * 86400,
                                                      "lead_time": 86400, "removal_grace": 300}
    short = api.patch("key-rotation/policy", {"lead_time": 10})
    assert short.status_code == 400 and "JWKS cache lifetime" in short.json()["error"]["fields"]["lead_time"][0]
    assert api.patch("key-rotation/policy", {"rotation_interval": 7 * 86400}).json()["rotation_interval"] == 7 * 86400

    active = rotation.active_key_of(a.tenant).kid
    stale = api.post("keys/rotate", {"expected_kid": "stale"})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "conflict"
    assert "no longer stale" in stale.json()["error"]["message"]
    rotated = api.post("keys/rotate", {"expected_kid": active}).json()
    assert rotated["state"] == KeyState.ACTIVE and rotated["kid"] != active
    timeline = api.get("key-rotation/timeline").json()
    assert {row["kid"]: row["state"] for row in timeline}[active] == KeyState.RETIRED
    assert api.post("keys/rotate", {"expected_kid": active}).status_code == 409  # rotated once, not twice
    # One rotate-now endpoint: the second one the API had (key-rotation/rotate) is gone.
    assert api.post("key-rotation/rotate", {"expected_kid": rotated["kid"]}).status_code == 404

    b_active = rotation.active_key_of(b.tenant).kid
    assert token_api(a).post("key-rotation/emergency", {"kid": b_active}).status_code == 400  # not A's key
    assert SigningKey.objects.get(kid=b_active).state == KeyState.ACTIVE
    assert token_api(b, scope="admin:keys.read").post("key-rotation/emergency", {"kid": b_active}).status_code == 403
    done = token_api(b).post("key-rotation/emergency", {"kid": b_active}).json()
    assert done["compromised"] == b_active and done["tokens_revoked"] >= 2  # the estate's token and the bot's
    assert SigningKey.objects.get(kid=b_active).state == KeyState.REMOVED


@pytest.mark.django_db
def test_console_jobs_page_polls_while_running_and_lists_only_this_tenant(estates, signed_in):
    a, b = estates
    run_a, run_b = queued_revocation(a), queued_revocation(b)
    http = signed_in(a.world.admin)
    page = http.get(f"/console/{a.world.slug}/jobs/").content.decode()
    assert str(run_a.pk) in page and str(run_b.pk) not in page and 'hx-trigger="every 2s"' in page
    rows = http.get(f"/console/{a.world.slug}/jobs/?rows=1").content.decode()
    assert rows.startswith('<tbody id="job-rows"') and "<html" not in rows
    assert http.post(f"/console/{a.world.slug}/jobs/{run_b.pk}/cancel").status_code == 302
    assert not JobRun.objects.get(pk=run_b.pk).cancel_requested
    http.post(f"/console/{a.world.slug}/jobs/{run_a.pk}/cancel")
    assert JobRun.objects.get(pk=run_a.pk).cancel_requested
    revocation.revocation_run(run_id=run_a.pk)
    assert 'hx-trigger' not in http.get(f"/console/{a.world.slug}/jobs/").content.decode()  # nothing runs: no polling
    assert signed_in(b.world.admin).get(f"/console/{a.world.slug}/jobs/").status_code == 404
    assert signed_in(a.world.auditor).post(f"/console/{a.world.slug}/jobs/revoke-tokens",
                                           {"client_id": a.client.client_id}).status_code == 403


@pytest.mark.django_db
def test_console_rotate_now_rotates_once_and_emergency_needs_the_kid_typed(estates, signed_in):
    a, _ = estates
    http = signed_in(a.world.admin)
    url = f"/console/{a.world.slug}/keys/rotation/"
    active = rotation.active_key_of(a.tenant).kid
    page = http.get(url).content.decode()
    assert f'data-kid="{active}"' in page
    # The page's "Rotate now" posts to the keys page's handler, the console's one, and comes back here.
    assert f'action="/console/{a.world.slug}/keys/"' in page and f'name="expected_kid" value="{active}"' in page
    for _ in range(2):  # the double click
        back = http.post(f"/console/{a.world.slug}/keys/", {"expected_kid": active, "back": "key-rotation"})
        assert back.status_code == 302 and back["Location"] == url
    assert http.post(f"{url}rotate", {"kid": active}).status_code == 404  # no second rotate-now handler
    assert SigningKey.objects.for_tenant(a.tenant).filter(state=KeyState.RETIRED).count() == 1
    assert AuditEvent.objects.filter(tenant=a.tenant, action="key.rotation_skipped").count() == 1
    current = rotation.active_key_of(a.tenant).kid
    http.post(f"{url}emergency", {"kid": current, "confirm": "yes"})
    assert rotation.active_key_of(a.tenant).kid == current
    http.post(f"{url}emergency", {"kid": current, "confirm": current})
    assert SigningKey.objects.get(kid=current).state == KeyState.REMOVED


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_jobs_page_shows_live_progress_in_chromium(live_public_url, page, setup, make_user):
    from tenants.models import Role

    admin = make_user("admin@keys.example")
    add_member(setup.tenant, admin, Role.ADMIN)
    insert_tokens(tenant=setup.tenant, client=setup.agent, count=10, prefix="p")
    run = revocation.revocation_request(tenant=setup.tenant, actor=ACTOR, client=setup.agent, enqueue=False)
    JobRun.objects.filter(pk=run.pk).update(status=JobStatus.RUNNING, done=3, total=10)
    sign_in(page, live_public_url, admin.email, PASSWORD)
    page.wait_for_url(f"{live_public_url}/console/**")
    page.goto(f"{live_public_url}/console/{setup.tenant.slug}/jobs/")
    row = page.locator(f"tr[data-job='{run.pk}']")
    assert row.locator(".progress-count").inner_text() == "3 / 10"
    JobRun.objects.filter(pk=run.pk).update(done=7)
    # htmx polls the rows while the job runs: no reload, no inline script (the CSP forbids both eval and inline)
    expect(row.locator(".progress-count")).to_have_text("7 / 10", timeout=8000)
    revocation.revocation_run(run_id=run.pk)
    expect(page.locator(f"tr[data-job='{run.pk}']")).to_have_attribute("data-status", "succeeded", timeout=8000)
    expect(page.locator(f"tr[data-job='{run.pk}'] .progress-count")).to_have_text(re.compile(r"^(\d+) / \1$"))


@pytest.mark.django_db
def test_a_console_action_that_meets_an_outage_answers_a_page_not_json(estates, signed_in, monkeypatch):
    """The database or the job queue failing under an emergency rotation or a revocation: the person sees a
    page saying what is unavailable, with a way back; API and protocol callers keep their JSON error."""
    from django.db import OperationalError
    from kombu.exceptions import OperationalError as BrokerError

    a, _ = estates
    http = signed_in(a.world.admin)
    http.raise_request_exception = False
    url = f"/console/{a.world.slug}/keys/rotation/"
    active = rotation.active_key_of(a.tenant).kid

    def database_gone(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(rotation, "key_emergency_rotate", database_gone)
    page = http.post(f"{url}emergency", {"kid": active, "confirm": active}, HTTP_ACCEPT="text/html,*/*",
                     HTTP_REFERER=f"http://testserver{url}")
    assert page.status_code == 503 and page["Content-Type"].startswith("text/html") and page["Retry-After"] == "5"
    body = page.content.decode()
    assert "the database is unavailable" in body and f'href="{url}"' in body and "<html" in body

    def queue_gone(**kwargs):
        raise BrokerError("[Errno 111] Connection refused")

    monkeypatch.setattr(revocation, "revocation_request", queue_gone)
    page = http.post(f"/console/{a.world.slug}/jobs/revoke-tokens", {"client_id": a.client.client_id},
                     HTTP_ACCEPT="text/html")
    assert page.status_code == 503 and "the job queue is unavailable" in page.content.decode()
    assert 'href="/console/"' in page.content.decode()  # no Referer: back to the console

    api = http.post(f"{url}emergency", {"kid": active, "confirm": active}, HTTP_ACCEPT="application/json")
    assert api.status_code == 503 and api.json()["error"] == "temporarily_unavailable"
