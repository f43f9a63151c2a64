"""Chromium drives the console: sign-in, tenant switcher, members."""

import pytest

from tenants.models import Membership, Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, base, email, password):
    page.goto(f"{base}/login")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_wrong_password_shows_a_clear_error_and_is_audited(live_public_url, page, two_tenants):
    from audit.models import AuditEvent

    a, _ = two_tenants
    sign_in(page, live_public_url, a.owner.email, "wrong password")
    assert "do not match" in page.locator(".errorlist").inner_text()
    assert AuditEvent.objects.filter(action="signin.failed", actor_label=a.owner.email).exists()


def test_admin_manages_members_and_switches_tenant_in_the_browser(live_public_url, page, two_tenants):
    from tests.factories import PASSWORD, add_member

    a, b = two_tenants
    add_member(b.tenant, a.owner, Role.AUDITOR)
    sign_in(page, live_public_url, a.owner.email, PASSWORD)
    page.wait_for_url(f"{live_public_url}/console/")
    page.click("main a:has-text('Alpha')")
    page.wait_for_url(f"{live_public_url}/console/alpha/")
    page.click(".sidenav >> text=Members")
    page.fill("#add-member input[name=email]", "newcomer@alpha.example")
    page.select_option("#add-member select[name=role]", "auditor")
    page.click("#add-member button[type=submit]")
    assert "newcomer@alpha.example added as Auditor" in page.locator(".messages").inner_text()
    row = page.locator("tr[data-email='newcomer@alpha.example']")
    row.locator("select[name=role]").select_option("admin")
    row.locator("button:has-text('Change')").click()
    assert Membership.objects.get(tenant=a.tenant, user__email="newcomer@alpha.example").role == Role.ADMIN

    # The tenant switcher goes to bravo, where this person is only an auditor: read-only.
    page.select_option("#switch-tenant", label="Bravo (Auditor)")
    page.wait_for_url(f"{live_public_url}/console/bravo/")
    page.click(".sidenav >> text=Members")
    assert page.locator("#add-member").count() == 0
    assert page.locator("tr[data-email='member@bravo.example']").count() == 1


def test_tenant_sign_in_page_is_branded_and_refuses_non_members(live_public_url, page, two_tenants):
    from tenants.services import tenant_update
    from tests.factories import PASSWORD

    a, b = two_tenants
    tenant_update(tenant=a.tenant, actor=a.owner, display_name="Alpha Corp", accent_color="#aa0033")
    page.goto(f"{live_public_url}/t/alpha/login")
    assert page.locator("h1").inner_text() == "Sign in to Alpha Corp"
    accent = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--accent')")
    assert accent.strip() == "#aa0033"
    page.fill("input[name=username]", b.member.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    assert "not a member of Alpha Corp" in page.locator(".errorlist").inner_text()
    page.fill("input[name=username]", a.member.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_public_url}/t/alpha/")
    assert a.member.email in page.content()


CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', e => window.__cspViolations.push(
    `${e.violatedDirective} ${e.blockedURI || 'inline'} at ${e.sourceFile || location.pathname}:${e.lineNumber}`));
"""


def test_no_console_or_sign_in_page_violates_the_content_security_policy(live_public_url, page, two_tenants):
    """Issue 16 item 20: every page the console navigation reaches, the sign-in pages and the end-user
    pages render under the CSP (no inline style or script blocked), in Chromium."""
    from tests.factories import PASSWORD

    a, _ = two_tenants
    violations, console_errors = {}, []
    page.add_init_script(CSP_LISTENER)
    page.on("console", lambda m: console_errors.append(m.text) if "Content Security Policy" in m.text else None)

    def visit(path):
        page.goto(f"{live_public_url}{path}")
        page.wait_for_load_state("networkidle")
        found = page.evaluate("window.__cspViolations")
        if found:
            violations[path] = found

    for path in ("/login", "/t/alpha/login", "/admin/login/"):
        visit(path)
    sign_in(page, live_public_url, a.owner.email, PASSWORD)
    page.wait_for_url(f"{live_public_url}/console/**")
    visit("/console/alpha/")
    links = page.eval_on_selector_all(".sidenav a[href]", "els => els.map(e => e.getAttribute('href'))")
    assert len(links) >= 5, links
    for path in dict.fromkeys(links):
        visit(path)
    visit("/t/alpha/account/apps")
    assert not violations and not console_errors, (violations, console_errors)
