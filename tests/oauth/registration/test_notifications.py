"""Admins hear about registrations that wait: an HMAC-signed webhook delivered by a real Celery worker
(retried until the receiver answers 2xx) and an e-mail to the policy's addresses."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail

from oauth.registration.notifications import SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.factories import add_member

from .conftest import events_of, metadata, set_policy


def _staff(world, make_user, *emails, role="admin"):
    for email in emails:
        add_member(world.tenant, make_user(email), role)


# --- The platform is no mail relay (issue 16, item 19) --------------------------------------------------

@pytest.mark.django_db
def test_notify_emails_must_be_the_tenants_owners_admins_or_auditors(world, client, signed_in):
    from oauth.registration.services import RegistrationServiceError

    with pytest.raises(RegistrationServiceError, match="victim@elsewhere.example is not an owner"):
        set_policy(world.tenant, notify_emails=f"{world.admin.email} victim@elsewhere.example")
    with pytest.raises(RegistrationServiceError, match="not an owner"):
        set_policy(world.tenant, notify_emails=world.member.email)  # an end user is not staff
    refused = signed_in(world.admin).patch("/api/v1/registration-policy",
                                           json.dumps({"notify_emails": "victim@elsewhere.example"}),
                                           content_type="application/json")
    assert refused.status_code == 400, refused.content
    assert set_policy(world.tenant, notify_emails=f"{world.admin.email}, {world.auditor.email.upper()}")


@pytest.mark.django_db
def test_mail_goes_only_to_addresses_that_are_still_staff(world, resource, registrar, eager_tasks,
                                                          django_capture_on_commit_callbacks):
    from tenants.models import Membership

    set_policy(world.tenant, notify_emails=f"{world.admin.email} {world.auditor.email}")
    Membership.objects.filter(tenant=world.tenant, user=world.auditor).delete()
    with django_capture_on_commit_callbacks(execute=True):
        registrar.register(world.tenant, metadata(client_name="Needs Review"))
    (message,) = mail.outbox
    assert message.to == [world.admin.email]


@pytest.mark.django_db
def test_registrant_text_stays_out_of_the_subject_and_is_quoted_in_the_body(world, resource, registrar, eager_tasks,
                                                                             django_capture_on_commit_callbacks):
    set_policy(world.tenant, notify_emails=world.admin.email)
    name = 'URGENT: your account is suspended, log in at https://evil.example/login \u202e"now'
    with django_capture_on_commit_callbacks(execute=True):
        registrar.register(world.tenant, metadata(client_name=name))
    (message,) = mail.outbox
    assert message.subject == "[Acme] A client registration waits for approval"
    assert "URGENT" not in message.subject and "evil" not in message.subject
    assert "https://evil.example" not in message.body and "https[://]evil.example/login" in message.body
    assert "\u202e" not in message.body and "written by the registrant" in message.body
    assert "Client name: \"URGENT: your account is suspended" in message.body


class Receiver:
    """A webhook receiver on loopback answering the given statuses in turn (the last one repeats)."""

    def __init__(self, statuses):
        self.statuses, self.deliveries = list(statuses), []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.deliveries.append((dict(self.headers), body))
                status = owner.statuses.pop(0) if len(owner.statuses) > 1 else owner.statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/registrations"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.EGRESS_ALLOWED_NETWORKS = "127.0.0.1/32"  # the receiver's address, as an operator would list it
    r = Receiver([500, 204])
    yield r
    r.close()


@pytest.mark.django_db(transaction=True)
def test_pending_registration_is_announced_by_a_signed_webhook_with_retries(world, resource, registrar, receiver,
                                                                            celery_worker):
    set_policy(world.tenant, webhook_url=receiver.url, webhook_secret="hook-secret-for-tests")
    client_id = registrar.register(world.tenant, metadata(client_name="Needs Review")).json()["client_id"]

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not events_of(world.tenant, "registration.notified"):
        time.sleep(0.2)
    (notified,) = events_of(world.tenant, "registration.notified")
    assert notified.data["webhook_status"] == 204
    assert len(receiver.deliveries) == 2  # 500, then the retry got 204
    (first_headers, first_body), (headers, body) = receiver.deliveries
    assert body == first_body  # the same payload on every try
    payload = json.loads(body)
    assert payload["event"] == "registration.pending" and payload["client_id"] == client_id
    assert payload["client_name"] == "Needs Review" and payload["tenant"] == world.slug
    assert payload["review_url"].endswith(f"/console/{world.slug}/approvals/{payload['registration_id']}")
    expected = "sha256=" + hmac.new(b"hook-secret-for-tests", headers[TIMESTAMP_HEADER].encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers[SIGNATURE_HEADER], expected)


@pytest.fixture
def eager_tasks():
    """Tasks run in-process (the e-mail backend of the test process is Django's outbox)."""
    from mcp_platform.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.mark.django_db
def test_pending_registration_and_justification_are_e_mailed_to_the_admins(world, resource, registrar, eager_tasks,
                                                                             django_capture_on_commit_callbacks,
                                                                             signed_in, make_user):
    _staff(world, make_user, "security@acme.example", "ops@acme.example")
    set_policy(world.tenant, notify_emails="security@acme.example, ops@acme.example")
    with django_capture_on_commit_callbacks(execute=True):
        registrar.register(world.tenant, metadata(client_name="Needs Review"))
    (message,) = mail.outbox
    assert message.to == ["security@acme.example", "ops@acme.example"]
    assert message.subject == "[Acme] A client registration waits for approval"
    assert 'Client name: "Needs Review"' in message.body
    assert f"/console/{world.slug}/approvals/" in message.body

    from oauth.registration.models import ClientRegistration

    registration = ClientRegistration.objects.unscoped().get(tenant=world.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        signed_in(world.member).post(f"/t/{world.slug}/registration/{registration.pk}/justification",
                                     {"justification": "for the audit", "next": "/"})
    assert len(mail.outbox) == 2 and "for the audit" in mail.outbox[1].body


@pytest.mark.django_db
def test_open_registrations_do_not_notify(world, resource, registrar, eager_tasks,
                                          django_capture_on_commit_callbacks):
    set_policy(world.tenant, dcr_mode="open", notify_emails=world.admin.email)
    with django_capture_on_commit_callbacks(execute=True):
        assert registrar.register(world.tenant).json()["status"] == "approved"
    assert mail.outbox == []
