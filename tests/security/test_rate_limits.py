"""Rate limits and lockout (kit/ratelimit.py): sign-in per address and per account with an audited
lockout, the token endpoint per client, introspection per caller; 429 with Retry-After; the token path
fails open when Redis is down."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditEvent
from tests.factories import PASSWORD, make_agent, make_resource
from tests.oauth.flows import basic, client_credentials

pytestmark = pytest.mark.django_db


def _sign_in(http, world, password, address="198.51.100.7"):
    return http.post(f"/t/{world.slug}/login", {"username": world.member.email, "password": password},
                     REMOTE_ADDR=address)


def test_an_account_is_locked_after_repeated_failed_passwords_and_the_lockout_is_audited(world, settings):
    settings.SIGNIN_LOCKOUT_FAILURES = 3
    http = Client()
    for n in range(3):  # from different addresses: the lock is on the account
        assert _sign_in(http, world, "wrong", address=f"198.51.100.{n}").status_code == 200
    locked = _sign_in(http, world, PASSWORD, address="198.51.100.99")
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0
    assert b"locked" in locked.content and "_auth_user_id" not in http.session
    events = AuditEvent.objects.filter(action="signin.locked")
    assert events.count() == 1 and events.get().data["email"] == world.member.email
    other = Client().post(f"/t/{world.slug}/login", {"username": world.admin.email, "password": PASSWORD})
    assert other.status_code == 302  # another account is not affected


def test_one_address_is_limited_across_accounts(world, settings):
    settings.SIGNIN_RATE_PER_ADDRESS = 4
    http = Client()
    statuses = [http.post(f"/t/{world.slug}/login", {"username": f"guess{n}@acme.example", "password": "x"},
                          REMOTE_ADDR="203.0.113.50").status_code for n in range(6)]
    assert statuses == [200] * 4 + [429] * 2
    elsewhere = Client().post(f"/t/{world.slug}/login", {"username": world.member.email, "password": PASSWORD},
                              REMOTE_ADDR="203.0.113.51")
    assert elsewhere.status_code == 302


def test_the_console_sign_in_is_throttled_too(world, settings):
    settings.SIGNIN_RATE_PER_ADDRESS = 1
    http = Client()
    assert http.post("/login", {"username": world.admin.email, "password": "x"}).status_code == 200
    assert http.post("/login", {"username": world.admin.email, "password": PASSWORD}).status_code == 429


def test_the_token_endpoint_limits_each_client(world, settings):
    settings.TOKEN_RATE_PER_CLIENT = 3
    resource = make_resource(world.tenant, "https://mcp.acme.example/mcp", name="files")
    agent, secret = make_agent(world.tenant, resources=[resource], scopes=["tools:read"])
    other, other_secret = make_agent(world.tenant, resources=[resource], scopes=["tools:read"], name="Other")
    http = Client()
    statuses = [client_credentials(http, world.tenant, agent, secret, resource=resource.uri).status_code
                for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    refused = client_credentials(http, world.tenant, agent, secret, resource=resource.uri)
    assert refused.json()["error"] == "temporarily_unavailable" and int(refused["Retry-After"]) > 0
    assert refused["Cache-Control"] == "no-store"
    assert client_credentials(http, world.tenant, other, other_secret, resource=resource.uri).status_code == 200


def test_introspection_limits_each_caller(world, settings):
    settings.INTROSPECTION_RATE_PER_CALLER = 2
    agent, secret = make_agent(world.tenant)
    http = Client()
    statuses = [http.post(f"/t/{world.slug}/introspect", {"token": "nope"},
                          HTTP_AUTHORIZATION=basic(agent.client_id, secret)).status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]


def test_token_issuance_and_sign_in_continue_when_the_limiter_is_down(world, settings):
    """Fail open: a Redis outage is not an outage of the authorization server."""
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.TOKEN_RATE_PER_CLIENT = 1
    resource = make_resource(world.tenant, "https://mcp.acme.example/mcp", name="files")
    agent, secret = make_agent(world.tenant, resources=[resource], scopes=["tools:read"])
    http = Client()
    for _ in range(3):
        assert client_credentials(http, world.tenant, agent, secret, resource=resource.uri).status_code == 200
    assert _sign_in(Client(), world, PASSWORD).status_code == 302


def test_behind_trusted_proxies_each_person_has_their_own_address_budget(world, settings):
    """With TRUSTED_PROXY_COUNT, the limit follows the address the proxy saw, not the proxy's own, and a
    client-written X-Forwarded-For entry cannot move it."""
    settings.TRUSTED_PROXY_COUNT = 1
    settings.SIGNIN_RATE_PER_ADDRESS = 2
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    attempts = [Client().post(f"/t/{world.slug}/login", {"username": "x@acme.example", "password": "x"},
                              HTTP_X_FORWARDED_FOR=f"{forged}, 198.51.100.20", **proxy).status_code
                for forged in ("1.1.1.1", "2.2.2.2", "3.3.3.3")]
    assert attempts == [200, 200, 429]
    someone_else = Client().post(f"/t/{world.slug}/login", {"username": world.member.email, "password": PASSWORD},
                                 HTTP_X_FORWARDED_FOR="198.51.100.21", **proxy)
    assert someone_else.status_code == 302


def _operator(make_user):
    return make_user("operator@platform.example", is_staff=True, is_superuser=True)


def test_the_django_admin_has_no_password_form_of_its_own(make_user, settings):
    """Issue 16 item 12: /admin/login/ hands over to the throttled console sign-in; a POST of a right
    password there signs nobody in, however many wrong ones came before (none reach a password check)."""
    settings.SIGNIN_RATE_PER_ADDRESS = 5
    operator = _operator(make_user)
    http = Client()
    for _ in range(12):
        answer = http.post("/admin/login/", {"username": operator.email, "password": "wrong"})
        assert answer.status_code == 302 and answer["Location"].startswith("/login?next=")
    assert not AuditEvent.objects.filter(action="signin.failed").exists()
    assert http.post("/admin/login/?next=/admin/", {"username": operator.email, "password": PASSWORD}).status_code \
        == 302
    assert "_auth_user_id" not in http.session
    assert http.get("/admin/")["Location"].startswith("/admin/login/")
    # The console's sign-in, with its limits, is the way in; it brings the operator back to the admin.
    signed_in = http.post("/login?next=/admin/", {"username": operator.email, "password": PASSWORD})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/"
    assert http.get("/admin/").status_code == 200


def test_a_locked_operator_cannot_sign_in_anywhere(make_user, settings):
    from django.contrib.auth import authenticate

    settings.SIGNIN_LOCKOUT_FAILURES = 3
    operator = _operator(make_user)
    for n in range(3):
        Client().post("/login", {"username": operator.email, "password": "wrong"}, REMOTE_ADDR=f"192.0.2.{n}")
    locked = Client().post("/login?next=/admin/", {"username": operator.email, "password": PASSWORD})
    assert locked.status_code == 429
    http = Client()
    http.post("/admin/login/?next=/admin/", {"username": operator.email, "password": PASSWORD})
    assert http.get("/admin/").status_code == 302 and "_auth_user_id" not in http.session
    # Whatever else calls authenticate() with the right password is refused while the lock lasts.
    assert authenticate(username=operator.email, password=PASSWORD) is None


def test_the_django_admin_refuses_members_and_tenant_bound_operator_sessions(make_user, world, client):
    from identity.session_binding import BOUND_TENANT_SESSION_KEY

    client.force_login(world.owner, backend="identity.backends.EmailBackend")
    assert client.get("/admin/", follow=True).status_code == 403  # signed in, no operator: no redirect loop
    operator = _operator(make_user)
    client.force_login(operator, backend="identity.backends.EmailBackend")
    assert client.get("/admin/").status_code == 200
    session = client.session
    session[BOUND_TENANT_SESSION_KEY] = str(world.tenant.pk)  # as a tenant's SSO sign-in leaves it
    session.save()
    assert client.get("/admin/", follow=True).status_code == 403
    assert client.get("/api/v1/tenants").status_code == 403
