"""Password reset: the same answer for every address, rate limits per source address and per account,
links that expire and die on use, and every session of the person ended after a reset (issue 20,
Done-when 2), with the tokens that hang on them."""

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from identity.models import PasswordReset
from tests.factories import PASSWORD, make_client, make_resource
from tests.oauth.flows import authorize, exchange

from .mail_links import link_in, path_of

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "amber-lantern-quartz-77"


@pytest.fixture(autouse=True)
def _fresh_limits(settings):
    """Each test starts with the reset counters of this hour at zero (only those keys: the database also
    holds the cache and the Celery broker)."""
    import redis

    if settings.REDIS_URL:
        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter("reset:rl:*"):
            client.delete(key)


def ask(http, slug, email, **headers):
    return http.post(f"/t/{slug}/password/forgot", {"email": email}, **headers)


def reset_with(http, link, password=NEW_PASSWORD):
    target = http.get(path_of(link))["Location"]
    return http.post(target, {"password1": password, "password2": password})


def test_the_answer_is_the_same_whether_or_not_the_address_exists(world, eager_tasks):
    known = ask(Client(), world.slug, world.member.email)
    unknown = ask(Client(), world.slug, "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    strip = lambda r, e: r.content.decode().replace(e, "EMAIL").split('name="csrfmiddlewaretoken"')[0]  # noqa: E731
    assert strip(known, world.member.email) == strip(unknown, "nobody@example.com")
    (message,) = mail.outbox
    assert message.to == [world.member.email] and f"/t/{world.slug}/password/reset/" in link_in(message)
    # an account that is not a member of this tenant gets nothing from its page
    ask(Client(), world.slug, "outsider@example.com")
    assert len(mail.outbox) == 1


def test_a_member_resets_a_forgotten_password_and_every_old_session_ends(world, eager_tasks):
    """Done-when 2: two old sessions (one used at the tenant's consent), then a reset: both are gone, the
    tokens the person held are revoked, the old password no longer works and the new one does."""
    laptop, phone = Client(HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"), Client()
    for http in (laptop, phone):
        assert http.post(f"/t/{world.slug}/login", {"username": world.member.email, "password": PASSWORD}
                         ).status_code == 302
    resource = make_resource(world.tenant, "https://mcp.acme.example/mcp")
    app, _ = make_client(world.tenant, resources=[resource])
    tokens = exchange(laptop, world.tenant, app, authorize(laptop, world.tenant, app, resource=resource.uri),
                      resource=resource.uri).json()
    assert laptop.get(f"/t/{world.slug}/account/sessions").status_code == 200

    ask(Client(), world.slug, world.member.email)
    done = reset_with(Client(), link_in(mail.outbox[-1]))
    assert done.status_code == 302 and done["Location"].startswith(f"/t/{world.slug}/login")

    for http in (laptop, phone):
        assert http.get(f"/t/{world.slug}/account/sessions")["Location"].startswith(f"/t/{world.slug}/login")
    refreshed = Client().post(f"/t/{world.slug}/token", {"grant_type": "refresh_token", "client_id": app.client_id,
                                                        "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    introspected = Client().post(f"/t/{world.slug}/introspect", {"token": tokens["access_token"]})
    assert introspected.status_code != 200 or introspected.json().get("active") is False
    world.member.refresh_from_db()
    assert world.member.check_password(NEW_PASSWORD) and not world.member.check_password(PASSWORD)
    event = AuditEvent.objects.filter(action="password_reset.completed").get()
    assert event.data["sessions_ended"] == 2 and event.data["tokens_revoked"] >= 1
    assert AuditEvent.objects.filter(action="sessions.ended", data__reason="password_reset").exists()


def test_expired_reused_and_forged_links_change_nothing(world, eager_tasks):
    ask(Client(), world.slug, world.member.email)
    ask(Client(), world.slug, world.member.email)
    first, second = (link_in(m) for m in mail.outbox[-2:])
    # forged: a changed secret, an unknown id, garbage
    for bad in (first[:-3] + "xyz", first.replace(first.rsplit("/", 1)[1][:32], "f" * 32), first + "/x"):
        http = Client()
        response = http.get(path_of(bad))
        if response.status_code == 302:
            response = http.get(response["Location"])
        assert response.status_code == 404, bad
    # another tenant's page does not open this tenant's link
    other = Client()
    other.get(path_of(first).replace(f"/t/{world.slug}/", "/"))
    assert other.get("/password/reset").status_code == 404

    PasswordReset.objects.filter(user=world.member).order_by("created_at").filter(
        pk=PasswordReset.objects.filter(user=world.member).order_by("created_at").first().pk).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    http = Client()
    expired = http.get(http.get(path_of(first))["Location"])
    assert expired.status_code == 410 and b'data-reason="expired"' in expired.content

    assert reset_with(Client(), second).status_code == 302  # works once ...
    reused = reset_with(Client(), second, "another-new-password-9")
    assert reused.status_code == 410 and b'data-reason="used"' in reused.content  # ... and never again
    world.member.refresh_from_db()
    assert world.member.check_password(NEW_PASSWORD)
    reasons = {e.data["reason"] for e in AuditEvent.objects.filter(action="password_reset.link_refused")}
    assert reasons >= {"forged", "expired", "used"}


def test_a_breached_or_short_password_is_refused(world, eager_tasks):
    ask(Client(), world.slug, world.member.email)
    link = link_in(mail.outbox[-1])
    for bad in ("qwertyuiop", "trustno1!", "short"):
        response = reset_with(Client(), link, bad)
        assert response.status_code == 400, bad
    assert b"breached" in reset_with(Client(), link, "qwertyuiop").content
    world.member.refresh_from_db()
    assert world.member.check_password(PASSWORD)


def test_requests_are_limited_per_source_address_and_per_account(world, settings, eager_tasks):
    settings.PASSWORD_RESET_RATE_PER_ACCOUNT, settings.PASSWORD_RESET_RATE_PER_ADDRESS = 2, 4
    answers = [ask(Client(), world.slug, world.member.email, REMOTE_ADDR=f"198.51.100.{i}").status_code
               for i in range(4)]
    assert answers == [200, 200, 200, 200] and len(mail.outbox) == 2  # the account's limit: no more mails
    http = Client(REMOTE_ADDR="203.0.113.9")
    statuses = [ask(http, world.slug, f"someone{i}@example.com").status_code for i in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    throttled = ask(http, world.slug, "x@example.com")
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0


def test_the_console_sign_in_has_its_own_forgot_password(world, eager_tasks):
    page = Client().get("/login")
    assert b'href="/password/forgot"' in page.content
    assert Client().post("/password/forgot", {"email": world.admin.email}).status_code == 200
    link = link_in(mail.outbox[-1])
    assert "/t/" not in link and reset_with(Client(), link).status_code == 302
    world.admin.refresh_from_db()
    assert world.admin.check_password(NEW_PASSWORD)


def test_the_reset_mail_speaks_the_language_of_the_page_it_was_asked_from(world, eager_tasks):
    world.tenant.default_language = "de"  # the browser's Accept-Language wins over the tenant's default
    world.tenant.save(update_fields=["default_language"])
    page = ask(Client(), world.slug, world.member.email, HTTP_ACCEPT_LANGUAGE="ja")
    assert page.status_code in (200, 302)
    (message,) = mail.outbox
    assert message.subject == "Acme のパスワードの再設定" and "新しいパスワードを設定" in message.alternatives[0][0]
