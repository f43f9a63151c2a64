"""Chromium drives the audit console: filter the explorer, open an event, verify, add a SIEM sink."""

import pytest

import audit
from audit.services import Actor
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_auditor_filters_opens_an_event_and_verifies_the_chain(live_public_url, page, two_tenants):
    a, _ = two_tenants
    audit.record(a.tenant, Actor("client", "agent-7", "Agent 7"), "token.issued",
                 ("oauth.application", "c7", "Agent 7"), client_id="agent-7", resource="https://files.example/mcp")
    page.goto(f"{live_public_url}/login")
    page.fill("input[name=username]", a.auditor.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_public_url}/console/**")
    page.goto(f"{live_public_url}/console/alpha/audit/")
    assert "active" in page.locator(".sidenav >> text=Audit log").get_attribute("class")
    page.fill("#audit-filters input[name=client]", "agent-7")
    page.click("#audit-filters button[type=submit]")
    rows = page.locator("table.events tbody tr")
    assert rows.count() == 1 and "token.issued" in rows.first.inner_text()
    rows.first.locator("td >> nth=0 >> a").click()
    assert "https://files.example/mcp" in page.locator("#audit-event").inner_text()
    page.click("text=Audit events for this target")
    assert "token.issued" in page.locator("table.events").inner_text()
    page.click("text=Verify integrity")
    assert "verified" in page.locator("#audit-verification").inner_text()


def test_an_admin_adds_a_sink_and_sees_its_secret_once(live_public_url, page, two_tenants, settings):
    settings.AUDIT_SINK_ALLOW_HTTP_LOOPBACK = False
    a, _ = two_tenants
    page.goto(f"{live_public_url}/login")
    page.fill("input[name=username]", a.admin.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_public_url}/console/**")
    page.goto(f"{live_public_url}/console/alpha/audit/settings/")
    page.fill("#audit-sink-add input[name=name]", "splunk")
    page.fill("#audit-sink-add input[name=url]", "http://siem.example/hook")
    page.click("#audit-sink-add button[type=submit]")
    assert "must be an https:// URL" in page.locator("#audit-sink-add").inner_text()
    page.fill("#audit-sink-add input[name=url]", "https://siem.example/hook")
    page.click("#audit-sink-add button[type=submit]")
    assert "shown once" in page.locator("#sink-secret").inner_text()
    assert "Delivering" in page.locator("tr[data-sink=splunk]").inner_text()
