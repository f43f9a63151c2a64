"""Chromium drives the approval queue: from the clients page to the queue, approve one registration,
reject another with a reason, and filter by status."""

from __future__ import annotations

import pytest

from oauth.models import Application

from .conftest import metadata

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_approves_one_and_rejects_one_with_a_reason(live_public_url, page, world, resource, registrar):
    from tests.factories import PASSWORD
    from tests.tenants.test_console_browser import sign_in

    first = registrar.register(world.tenant, metadata(client_name="Claude Code")).json()["client_id"]
    second = registrar.register(world.tenant, metadata(client_name="Sketchy Tool",
                                                       redirect_uris=["http://127.0.0.1:9/cb"])).json()["client_id"]
    sign_in(page, live_public_url, world.admin.email, PASSWORD)
    page.wait_for_url(f"{live_public_url}/console/**")
    page.goto(f"{live_public_url}/console/{world.slug}/clients/")
    page.click("text=approval queue")
    page.wait_for_url(f"{live_public_url}/console/{world.slug}/approvals")
    assert page.locator("#registrations tbody tr[data-client-id]").count() == 2

    page.click("#registrations a:has-text('Claude Code')")
    page.click("#decision button[value=approve]")
    page.wait_for_url(f"{live_public_url}/console/{world.slug}/approvals")
    assert "Claude Code: approved" in page.locator(".messages").inner_text()

    page.click("#registrations a:has-text('Sketchy Tool')")
    page.fill("#reason", "Unknown publisher, use Claude Code")
    page.click("#decision button[value=reject]")
    page.wait_for_url(f"{live_public_url}/console/{world.slug}/approvals")
    assert page.locator("#registrations tbody tr[data-client-id]").count() == 0  # the pending view is empty

    page.select_option("#queue-filters select[name=status]", "rejected")
    page.click("#queue-filters button[type=submit]")
    row = page.locator(f"#registrations tr[data-client-id='{second}']")
    assert row.count() == 1 and "Rejected" in row.inner_text()
    row.locator("a").click()
    assert "Unknown publisher, use Claude Code" in page.locator("main").inner_text()
    assert "registration.rejected" in page.locator("#history").inner_text()

    statuses = dict(Application.objects.unscoped().filter(client_id__in=[first, second])
                    .values_list("client_id", "status"))
    assert statuses == {first: "approved", second: "rejected"}
