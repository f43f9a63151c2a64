"""The whole way in Chromium, with the mail going through a real SMTP server (aiosmtpd): an admin adds a
member in the console, the member follows the invitation link and sets a password, later forgets it,
follows the reset link, and every session they had before has ended."""

from __future__ import annotations

import email
import email.policy
import threading

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import PASSWORD, free_port

from .mail_links import LINK

NEW_MEMBER = "dana@example.com"
FIRST_PASSWORD = "saffron-glacier-piano-31"
SECOND_PASSWORD = "cobalt-meadow-violin-58"


class Inbox:
    """An aiosmtpd handler that keeps every message it is given, as the mail server would."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self._arrived:
            self.envelopes.append(envelope)
            self.messages.append(message)
            self._arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 20) -> email.message.EmailMessage:
        with self._arrived:
            assert self._arrived.wait_for(lambda: len(self.messages) >= count, timeout), "no mail arrived"
            return self.messages[count - 1]


@pytest.fixture
def smtp_inbox(settings):
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield inbox
    controller.stop()


@pytest.fixture
def live_tasks():
    """The live server's requests run the mail tasks in-process (their transactions commit for real)."""
    from mcp_platform.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def link_of(message) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    (link,) = LINK.findall(text)
    assert link in html
    return link


@pytest.mark.django_db(transaction=True)
def test_invited_member_sets_a_password_then_resets_it_and_old_sessions_end(
        browser, live_public_url, make_world, smtp_inbox, live_tasks):
    world = make_world("acme")
    world.tenant.display_name = "Acme Corp"
    world.tenant.save()
    base = live_public_url
    admin, member, later = (browser.new_context() for _ in range(3))
    try:
        console = admin.new_page()
        console.goto(f"{base}/login?next=/console/acme/members/")
        console.fill("input[name=username]", world.admin.email)
        console.fill("input[name=password]", PASSWORD)
        console.click("button[type=submit]")
        console.wait_for_url("**/console/acme/members/")
        console.fill("#add-member input[name=email]", NEW_MEMBER)
        console.click("#add-member button[type=submit]")
        console.wait_for_selector(f"tr[data-email='{NEW_MEMBER}']")

        invitation = smtp_inbox.wait_for(1)
        assert invitation["To"] == NEW_MEMBER and "Acme Corp" in invitation["From"]
        assert smtp_inbox.envelopes[0].rcpt_tos == [NEW_MEMBER]
        console.goto(f"{base}/console/acme/invitations/")
        assert console.locator(f"tr[data-email='{NEW_MEMBER}']").get_attribute("data-status") == "pending"

        page = member.new_page()
        page.goto(link_of(invitation))
        assert "/invitation/" not in page.url  # the token left the address bar at once
        page.fill("input[name=password1]", FIRST_PASSWORD)
        page.fill("input[name=password2]", FIRST_PASSWORD)
        page.click("#set-password button[type=submit]")
        page.wait_for_url(f"{base}/t/acme/")
        assert NEW_MEMBER in page.content()
        page.goto(link_of(invitation))  # the same link again
        assert page.locator("#refusal").get_attribute("data-reason") == "used"

        # weeks later, on another device: forgotten
        other = later.new_page()
        other.goto(f"{base}/t/acme/login")
        other.click("#forgot-password-link")
        other.fill("input[name=email]", NEW_MEMBER)
        other.click("#forgot-password button[type=submit]")
        other.wait_for_selector("#reset-sent")
        reset = smtp_inbox.wait_for(2)
        other.goto(link_of(reset))
        other.fill("input[name=password1]", SECOND_PASSWORD)
        other.fill("input[name=password2]", SECOND_PASSWORD)
        other.click("#new-password button[type=submit]")
        other.wait_for_url(f"{base}/t/acme/login*")
        assert "every session of yours was ended" in other.content()

        # the session the invitation opened has ended; the reset link is dead; the new password works
        page.goto(f"{base}/t/acme/account/sessions")
        assert "/t/acme/login" in page.url
        other.goto(link_of(reset))
        assert other.locator("#refusal").get_attribute("data-reason") == "used"
        other.goto(f"{base}/t/acme/login")
        other.fill("input[name=username]", NEW_MEMBER)
        other.fill("input[name=password]", SECOND_PASSWORD)
        other.click("#sign-in button[type=submit]")
        other.wait_for_url(f"{base}/t/acme/")
        other.goto(f"{base}/t/acme/account/sessions")
        assert other.locator("#sessions tbody tr").count() == 1
    finally:
        for context in (admin, member, later):
            context.close()
