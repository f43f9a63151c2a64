"""Issue 20, done when 1, in one Chromium run: the operator creates a tenant with its first owner's
invitation; the owner follows the e-mailed link, sets a password, enrols a passkey, requires a second
factor of admins and invites an admin; the admin follows their link, is made to enrol a passkey of their
own, and when they rotate the tenant's keys later they are asked for a fresh second factor first."""

from __future__ import annotations

import time

import pytest
from django.core import mail

from audit.models import AuditEvent
from identity.mfa.models import MfaPolicy, Passkey
from oauth.models import KeyState, SigningKey
from tenants.models import Membership, Role, Tenant
from tests.factories import PASSWORD
from tests.mcp_registry.conftest import no_persistent_db_connections  # noqa: F401

from .mail_links import link_in
from .test_mfa_browser import virtual_authenticator

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
NEW_PASSWORD = "violet-kettle-orbit-42"


def set_password_from_invitation(page, message) -> None:
    page.goto(link_in(message).replace("127.0.0.1", "localhost"))
    form = page.locator("#set-password")
    form.locator("input[name=password1]").fill(NEW_PASSWORD)
    form.locator("input[name=password2]").fill(NEW_PASSWORD)
    form.locator("button[type=submit]").click()


def test_owner_by_invitation_enrols_a_passkey_and_the_admin_they_invite_steps_up_to_rotate_keys(
        live_public_url, browser, make_user, settings, eager_tasks, no_persistent_db_connections):  # noqa: F811
    base = live_public_url.replace("127.0.0.1", "localhost")  # a WebAuthn RP ID is a host name
    settings.PUBLIC_URL = base
    operator = make_user("operator@platform.example", is_staff=True)
    contexts = []

    def person():
        context = browser.new_context()
        contexts.append(context)
        tab = context.new_page()
        tab.set_default_timeout(15000)
        tab.on("dialog", lambda dialog: dialog.accept())
        return tab

    try:
        # The operator creates the tenant with its first owner.
        ops = person()
        ops.goto(f"{base}/login")
        ops.fill("input[name=username]", operator.email)
        ops.fill("input[name=password]", PASSWORD)
        ops.click("button[type=submit]")
        ops.goto(f"{base}/console/platform/tenants/")
        create = ops.locator("#create-tenant")
        create.locator("input[name=slug]").fill("initech")
        create.locator("input[name=name]").fill("Initech")
        create.locator("input[name=owner_email]").fill("boss@initech.example")
        create.locator("button[type=submit]").click()
        tenant = Tenant.objects.get(slug="initech")
        (owner_mail,) = [m for m in mail.outbox if m.to == ["boss@initech.example"]]

        # The owner accepts, enrols a passkey, requires a second factor of admins and invites one.
        owner = person()
        virtual_authenticator(owner)
        set_password_from_invitation(owner, owner_mail)
        owner.wait_for_url(f"{base}/t/initech/")
        owner.goto(f"{base}/t/initech/account/security")
        owner.fill("#passkey-name", "Boss laptop")
        owner.click("#passkey-register")
        owner.wait_for_selector("#recovery-codes")
        boss = Membership.objects.unscoped().get(tenant=tenant, role=Role.OWNER).user
        assert Passkey.objects.filter(user=boss).count() == 1
        owner.goto(f"{base}/console/initech/mfa/")
        owner.check("#mfa-policy input[value=admins]")
        owner.click("#mfa-policy button[type=submit]")
        assert MfaPolicy.objects.for_tenant(tenant).get().rule == "admins"
        owner.goto(f"{base}/console/initech/members/")
        add = owner.locator("#add-member")
        add.locator("input[name=email]").fill("admin@initech.example")
        add.locator("select[name=role]").select_option("admin")
        add.locator("button[type=submit]").click()
        (admin_mail,) = [m for m in mail.outbox if m.to == ["admin@initech.example"]]

        # The admin accepts and is made to enrol before anything else.
        admin = person()
        virtual_authenticator(admin)
        set_password_from_invitation(admin, admin_mail)
        admin.wait_for_url(f"{base}/t/initech/account/security**")
        assert admin.locator("#mfa-required").is_visible()
        admin.fill("#passkey-name", "Admin laptop")
        admin.click("#passkey-register")
        admin.wait_for_selector("#recovery-codes")

        # Later (past MFA_STEP_UP_SECONDS, shortened here), rotating the keys asks for a fresh factor first.
        settings.MFA_STEP_UP_SECONDS = 3
        time.sleep(settings.MFA_STEP_UP_SECONDS + 1)
        admin.goto(f"{base}/console/initech/keys/")
        active = admin.locator("tr[data-state=active]").get_attribute("data-kid")
        admin.click("#rotate-key button[type=submit]")
        admin.wait_for_url(f"{base}/mfa?next=**")
        assert SigningKey.objects.for_tenant(tenant).get(kid=active).state == KeyState.ACTIVE  # nothing rotated
        admin.click("#passkey-sign-in")
        admin.wait_for_url(f"{base}/console/initech/keys/")
        admin.click("#rotate-key button[type=submit]")
        assert "Rotated:" in admin.locator(".messages").inner_text()
        assert SigningKey.objects.for_tenant(tenant).get(kid=active).state == KeyState.RETIRED
    finally:
        for context in contexts:
            context.close()
    admin_user = Membership.objects.unscoped().get(tenant=tenant, role=Role.ADMIN).user
    step_up = AuditEvent.objects.filter(action="mfa.challenge_succeeded", actor_id=str(admin_user.pk),
                                        data__purpose="step_up")
    assert step_up.count() == 1 and step_up.get().data["method"] == "hwk"
    assert AuditEvent.objects.filter(tenant=tenant, action="key.rotated").count() == 1
