"""The embedded default as ./run.sh runs it: migrate, seed, serve with two web workers, SQLite, no Redis.

An admin acts in Chromium; the very next requests, sent on fresh connections so both web workers answer
(the server's log names the process of each), see the change: a settings change, a key rotation, a
revocation job of 300 tokens (with live progress), an emergency rotation, a suspension and an approval.
Then /metrics, summed over the workers, never goes backwards, and every line of the server's log is JSON,
with the request id on every line about a request.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import expect

from mcp_platform.demo import notes
from mcp_platform.management.commands.seed_demo import DEMO_EMAIL, DEMO_PASSWORD
from oauth.grants.revocation import REVOKE_JOB
from tests.conftest import EMBEDDED_LANE, free_port, serve_platform
from tests.oauth.flows import pkce_pair
from tests.tenants.test_console_browser import sign_in

# Its own server, whatever the lane's database: run once, in test.sh's embedded lane.
pytestmark = [pytest.mark.embedded, pytest.mark.browser,
              pytest.mark.skipif(not EMBEDDED_LANE, reason="runs in test.sh's embedded lane (EMBEDDED_LANE=1)")]

ROUNDS = 16  # requests after each change: enough that both web workers answer (asserted from the log)
METRICS_TOKEN = "embedded-metrics-token"
REDIRECT_URI = "http://127.0.0.1:33418/callback"


@dataclass
class Server:
    base: str
    log: Path
    resource: str  # the seeded Notes resource (its demo server is not started: no tool is called here)

    @property
    def issuer(self) -> str:
        return f"{self.base}/t/demo"

    def log_lines(self) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if line.strip()]

    def pids_answering(self, request_ids: set[str]) -> set[int]:
        """The processes whose access-log lines name these request ids."""
        pids = set()
        for line in self.log_lines():
            entry = json.loads(line)
            if entry.get("logger") == "mcp_platform.access" and entry.get("request_id") in request_ids:
                pids.add(entry["pid"])
        return pids


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("embedded")
    port, notes_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_QUEUE", "EMBEDDED_LANE", "PROMETHEUS_MULTIPROC_DIR")}
    env.update(VAR_DIR=str(tmp / "var"), PUBLIC_URL=f"http://127.0.0.1:{port}", METRICS_TOKEN=METRICS_TOKEN,
               LOG_LEVEL="INFO", TOKEN_RATE_PER_CLIENT="100000", HEARTBEAT_INTERVAL_SECONDS="5",
               DEMO_MCP_PORT=str(notes_port))
    proc = serve_platform(env, port, tmp / "serve.log", web_workers=2)
    yield Server(f"http://127.0.0.1:{port}", tmp / "serve.log", notes.resource_uri(notes_port))
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def fresh(method: str, url: str, **kwargs) -> httpx.Response:
    """One request on its own connection (Connection: close), so the workers take turns."""
    headers = {"Connection": "close", **kwargs.pop("headers", {})}
    return httpx.request(method, url, headers=headers, timeout=20, **kwargs)


def tokens(server: Server, client: tuple[str, str], n: int = ROUNDS) -> list[httpx.Response]:
    return [fresh("POST", f"{server.issuer}/token", auth=client,
                  data={"grant_type": "client_credentials", "resource": server.resource}) for _ in range(n)]


def kid_of(jwt: str) -> str:
    header = jwt.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def active(server: Server, client: tuple[str, str], token: str) -> bool:
    answer = fresh("POST", f"{server.issuer}/introspect", auth=client, data={"token": token})
    assert answer.status_code == 200, answer.text
    return answer.json()["active"]


def both_workers_answered(server: Server, answers: list[httpx.Response]) -> None:
    ids = {a.headers["X-Request-ID"] for a in answers}
    assert len(server.pids_answering(ids)) == 2, "one worker answered every request: the test proves nothing"


def create_client(page, server: Server, name: str) -> tuple[str, str]:
    page.goto(f"{server.base}/console/demo/clients/")
    form = page.locator("#create-client")
    form.locator("input[name=name]").fill(name)
    form.locator("select[name=client_type]").select_option("confidential")
    for grant in ("authorization_code", "refresh_token"):  # checked by default, for MCP clients
        form.locator(f"input[name=grant_types][value={grant}]").uncheck()
    form.locator("input[name=grant_types][value=client_credentials]").check()
    form.locator("label", has_text="Notes").locator("input[name=resources]").check()
    form.locator("button[type=submit]").click()
    return (page.locator("#client-secret .client-id").inner_text(), page.locator("#client-secret .secret").inner_text())


@pytest.fixture
def admin(page, server):
    page.on("dialog", lambda dialog: dialog.accept())  # the console confirms destructive actions
    sign_in(page, server.base, DEMO_EMAIL, DEMO_PASSWORD)
    page.wait_for_url(f"{server.base}/console/demo/")
    return page


def test_every_console_action_applies_to_the_next_request_in_every_worker(server, admin):
    page = admin
    agent = create_client(page, server, "Embedded agent")
    warm = tokens(server, agent)
    assert all(a.status_code == 200 for a in warm), warm[0].text
    both_workers_answered(server, warm)  # both now hold the client, the key and the settings in memory

    # A settings change: the next token of every worker has the new lifetime.
    page.goto(f"{server.base}/console/demo/authorization/")
    page.fill("#auth-settings input[name=access_token_lifetime]", "321")
    page.click("#auth-settings button[type=submit]")
    answers = tokens(server, agent)
    assert [a.json()["expires_in"] for a in answers] == [321] * ROUNDS
    both_workers_answered(server, answers)

    # Rotate now: the next token of every worker is signed by the new key, and the JWKS every worker
    # serves from its rendered bytes (mcp_platform/documents.py) publishes the fresh next key.
    def published() -> list[httpx.Response]:
        answers = [fresh("GET", f"{server.issuer}/jwks.json") for _ in range(ROUNDS)]
        both_workers_answered(server, answers)
        return answers
    kids_before = {frozenset(k["kid"] for k in a.json()["keys"]) for a in published()}
    assert len(kids_before) == 1
    old_kid = kid_of(answers[-1].json()["access_token"])
    page.goto(f"{server.base}/console/demo/keys/")
    page.click("#rotate-key button[type=submit]")
    assert "Rotated:" in page.locator(".messages").inner_text()
    new_kid = page.locator("tr[data-state=active]").get_attribute("data-kid")
    assert new_kid != old_kid
    answers = tokens(server, agent)
    assert {kid_of(a.json()["access_token"]) for a in answers} == {new_kid}
    both_workers_answered(server, answers)
    kids_after = {frozenset(k["kid"] for k in a.json()["keys"]) for a in published()}
    assert len(kids_after) == 1 and kids_after != kids_before and new_kid in next(iter(kids_after))

    # A revocation job of 300 tokens of another client: live progress to 300 / 300, refused at once.
    bulk = create_client(page, server, "Bulk agent")
    minted = [a.json()["access_token"] for a in tokens(server, bulk, 300)]
    page.goto(f"{server.base}/console/demo/clients/")
    page.click("#clients a:has-text('Bulk agent')")
    page.click("form.revoke-tokens button:has-text('Revoke all tokens of this client')")
    page.wait_for_url(f"{server.base}/console/demo/jobs/**")
    assert [active(server, agent, t) for t in minted[:ROUNDS]] == [False] * ROUNDS
    job = page.locator("tr[data-job]", has_text=REVOKE_JOB).first
    expect(job.locator(".progress-count")).to_have_text("300 / 300", timeout=60000)  # htmx polling, no reload
    expect(job).to_have_attribute("data-status", "succeeded")

    # Emergency rotation: a console page, and the compromised key's tokens are refused at once everywhere.
    signed = [a.json()["access_token"] for a in tokens(server, agent)]
    assert all(active(server, agent, t) for t in signed)
    page.goto(f"{server.base}/console/demo/keys/rotation/")
    page.fill("#emergency-confirm", new_kid)
    page.click("#emergency-rotation button[type=submit]")
    page.wait_for_url(f"{server.base}/console/demo/keys/rotation/")
    assert page.locator("h1").inner_text() == "Signing keys: rotation"
    assert "Emergency rotation:" in page.locator(".messages").inner_text()
    checks = [fresh("POST", f"{server.issuer}/introspect", auth=agent, data={"token": t}) for t in signed]
    assert [c.json()["active"] for c in checks] == [False] * ROUNDS
    both_workers_answered(server, checks)

    # Suspension: the very next token request, whichever worker answers, is refused.
    page.goto(f"{server.base}/console/demo/clients/")
    page.click("#clients a:has-text('Embedded agent')")
    page.click("#client-actions button:has-text('Suspend and revoke tokens')")
    assert "uspended" in page.locator("h1").inner_text()
    answers = tokens(server, agent)
    assert [a.status_code for a in answers] == [401] * ROUNDS, answers[0].text
    both_workers_answered(server, answers)


def test_an_approval_applies_to_the_next_sign_in_in_every_worker(server, admin):
    registered = fresh("POST", f"{server.issuer}/register", json={
        "client_name": "Embedded Desktop", "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "application_type": "native"})
    assert registered.status_code == 201, registered.text
    client_id = registered.json()["client_id"]
    _, challenge = pkce_pair()
    authorize = f"{server.issuer}/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI, "state": "s",
        "code_challenge": challenge, "code_challenge_method": "S256", "resource": server.resource})
    waiting = [fresh("GET", authorize) for _ in range(ROUNDS)]
    assert all("awaiting approval" in w.text for w in waiting)
    both_workers_answered(server, waiting)

    page = admin
    page.goto(f"{server.base}/console/demo/approvals")
    page.click("#registrations a:has-text('Embedded Desktop')")
    page.click("#decision button[value=approve]")
    assert "Embedded Desktop: approved" in page.locator(".messages").inner_text()
    answers = [fresh("GET", authorize) for _ in range(ROUNDS)]
    assert [a.status_code for a in answers] == [302] * ROUNDS  # on to sign-in, in every worker
    assert not any("awaiting approval" in a.text for a in answers)
    both_workers_answered(server, answers)


def test_metrics_never_go_backwards_and_every_log_line_is_json_with_its_request_id(server, admin):
    def scrape() -> dict[str, float]:
        body = fresh("GET", f"{server.base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
        return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
                if line.startswith(("mcp_http_requests_total", "mcp_tokens_issued_total"))}

    def served(counters: dict[str, float]) -> float:
        return sum(v for k, v in counters.items() if k.startswith("mcp_http_requests_total"))

    # The test makes its own traffic, so it holds whichever tests ran before it on this server (or, under
    # xdist, on another worker's server): refused token requests (django.request lines) and plain requests.
    previous = scrape()
    before = served(previous)
    for _ in range(12):  # each request on a fresh connection: the workers take turns answering
        fresh("GET", f"{server.base}/healthz")
        assert tokens(server, ("no-such-client", "wrong-secret"), 1)[0].status_code == 401
        current = scrape()
        assert all(current.get(name, 0) >= value for name, value in previous.items()), (previous, current)
        previous = current
    assert served(previous) >= before + 24  # every worker's requests are counted, wherever the scrape lands

    lines = server.log_lines()
    entries = [json.loads(line) for line in lines]  # every line is JSON, boot banners included
    access = [e for e in entries if e["logger"] == "mcp_platform.access"]
    assert access and all(len(e.get("request_id", "")) >= 16 for e in access)
    assert len({e["pid"] for e in access}) == 2
    request_ids = {e["request_id"] for e in access}
    refused = [e for e in entries if e["logger"] == "django.request"]  # e.g. the suspended client's 401s
    assert refused and all(e.get("request_id") in request_ids for e in refused)
    # The jobs process logs in the same format, and the every-few-seconds scheduler lines are DEBUG (not shown).
    assert any(e["logger"].startswith("celery") for e in entries)
    # ... it ran (the beat sends one every 5 s here, once the jobs process is up: on a fresh server that can
    # take a while on a loaded machine) ...
    deadline = time.monotonic() + 60
    while not fresh("GET", f"{server.base}/readyz").json()["checks"]["scheduler_last_heartbeat"]:
        assert time.monotonic() < deadline, "the scheduler never sent a heartbeat"
        time.sleep(1)
    entries = [json.loads(line) for line in server.log_lines()]
    scheduling = [e for e in entries if any(w in e["msg"] for w in ("Sending due task", "received", "succeeded in"))]
    assert not [e for e in scheduling if "scheduler_heartbeat" in e["msg"] or "audit.stream_events" in e["msg"]]
