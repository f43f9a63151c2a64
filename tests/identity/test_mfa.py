"""Second factors through the real pages (Django's test client, PostgreSQL, Redis counters): TOTP with codes
computed here, recovery codes that work once, wrong codes rate-limited, passkeys of another account or for
another origin refused, each success and failure audited, and nothing changed by a refusal."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from audit.models import AuditEvent
from identity.mfa.models import Passkey, RecoveryCode, TotpDevice
from kit import authn, crypto

from .mfa_helpers import SoftAuthenticator, enrol_totp, next_code, password_sign_in, post_json

pytestmark = pytest.mark.django_db


def events(action: str, user=None):
    qs = AuditEvent.objects.filter(action=action)
    return qs.filter(actor_id=str(user.pk)) if user is not None else qs


def test_totp_enrolment_then_sign_in_asks_for_the_code(client, world, settings):
    assert password_sign_in(client, world.admin)["Location"] == "/console/"
    secret, codes = enrol_totp(client)
    device = TotpDevice.objects.get(user=world.admin)
    assert secret not in device.secret_encrypted  # encrypted at rest, under the platform KEK
    assert crypto.decrypt(device.secret_encrypted, aad=device.secret_aad).decode() == secret
    assert len(codes) == 10 and RecoveryCode.objects.filter(user=world.admin).count() == 10
    assert not any(code in row.digest for code in codes for row in RecoveryCode.objects.all())  # hashed at rest
    assert events("mfa.factor_enrolled", world.admin).get().data["kind"] == "totp"

    browser = Client()
    answer = password_sign_in(browser, world.admin, next_url="/console/acme/")
    assert answer["Location"] == "/mfa"
    assert browser.get("/console/acme/").status_code == 302  # nobody is signed in until the second factor
    wrong = browser.post("/mfa", {"code": "000000" if pyotp_now(secret) != "000000" else "111111"})
    assert wrong.status_code == 400 and "not right" in wrong.content.decode()
    assert events("mfa.challenge_failed", world.admin).get().data["reason"] == "wrong_code"
    code = next_code(secret)
    answer = browser.post("/mfa", {"code": code})
    assert answer.status_code == 302 and answer["Location"] == "/console/acme/"
    assert browser.get("/console/acme/").status_code == 200
    assert browser.session[authn.AMR_KEY] == ["pwd", "otp", "mfa"]
    assert events("mfa.challenge_succeeded", world.admin).get().data["purpose"] == "sign_in"

    # The same code a second time (another sign-in within its 30 seconds) is refused: each step works once.
    again = Client()
    password_sign_in(again, world.admin)
    assert again.post("/mfa", {"code": code}).status_code == 400


def pyotp_now(secret: str) -> str:
    import pyotp

    return pyotp.TOTP(secret).now()


def test_a_recovery_code_works_once(client, world):
    password_sign_in(client, world.member, slug="acme")
    _, codes = enrol_totp(client, slug="acme")
    first = Client()
    assert password_sign_in(first, world.member, slug="acme")["Location"] == "/t/acme/mfa"
    answer = first.post("/t/acme/mfa", {"code": codes[0].upper()})
    assert answer.status_code == 302 and answer["Location"] == "/t/acme/"
    assert events("mfa.challenge_succeeded", world.member).get().data["recovery_codes_left"] == 9
    second = Client()
    password_sign_in(second, world.member, slug="acme")
    refused = second.post("/t/acme/mfa", {"code": codes[0]})
    assert refused.status_code == 400 and "already used" in refused.content.decode()
    assert "_auth_user_id" not in second.session


def test_wrong_codes_are_rate_limited_per_account(client, world, settings):
    settings.MFA_CODE_FAILURES = 3
    password_sign_in(client, world.admin)
    secret, _ = enrol_totp(client)
    browser = Client()
    password_sign_in(browser, world.admin)
    for _ in range(3):
        assert browser.post("/mfa", {"code": "12345x"}).status_code == 400
    locked = browser.post("/mfa", {"code": next_code(secret)})
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0
    assert "Too many wrong answers" in locked.content.decode() and "_auth_user_id" not in browser.session
    assert events("mfa.locked", world.admin).count() == 1
    # The lockout is the account's, not the browser's.
    other = Client()
    password_sign_in(other, world.admin)
    assert other.post("/mfa", {"code": next_code(secret)}).status_code == 429


def test_sensitive_console_action_asks_for_a_fresh_factor(client, world, settings):
    from oauth.models import SigningKey

    password_sign_in(client, world.admin)
    secret, _ = enrol_totp(client)
    session = client.session
    session[authn.SECOND_FACTOR_AT_KEY] = int(time.time()) - settings.MFA_STEP_UP_SECONDS - 1
    session.save()
    keys_before = list(SigningKey.objects.for_tenant(world.tenant).values_list("kid", "state"))
    answer = client.post("/console/acme/keys/", {"action": "rotate"},
                         HTTP_REFERER="http://testserver/console/acme/keys/")
    assert answer.status_code == 302 and answer["Location"].startswith("/mfa?next=%2Fconsole%2Facme%2Fkeys%2F")
    assert list(SigningKey.objects.for_tenant(world.tenant).values_list("kid", "state")) == keys_before
    api = client.post("/api/v1/keys/rotate", {}, content_type="application/json", HTTP_X_TENANT="acme")
    assert api.status_code == 403 and api.json()["error"]["code"] == "step_up_required"
    back = client.post(answer["Location"], {"code": next_code(secret)})
    assert back["Location"] == "/console/acme/keys/"
    assert events("mfa.challenge_succeeded", world.admin).filter(data__purpose="step_up").exists()
    assert client.post("/console/acme/keys/", {"action": "rotate"}).status_code == 302
    assert list(SigningKey.objects.for_tenant(world.tenant).values_list("kid", "state")) != keys_before


def test_policy_requires_admins_to_enrol_before_anything_else(client, world):
    from audit.services import Actor
    from identity.mfa import services

    services.policy_set(tenant=world.tenant, rule="admins", actor=Actor("test", "", "pytest"))
    assert events("mfa.policy_updated").get().data == {"before": "off", "after": "admins"}
    answer = password_sign_in(client, world.admin, next_url="/console/acme/")
    assert answer["Location"].startswith("/account/security?next=")
    assert client.get("/console/acme/")["Location"].startswith("/account/security")  # the gate holds
    enrol_totp(client)
    assert client.get("/console/acme/").status_code == 200
    member = Client()
    assert password_sign_in(member, world.member, slug="acme")["Location"] == "/t/acme/"  # not an admin


def test_removing_a_factor_needs_a_fresh_one(client, world, settings):
    password_sign_in(client, world.member, slug="acme")
    secret, _ = enrol_totp(client, slug="acme")
    device = TotpDevice.objects.get(user=world.member)
    session = client.session
    session[authn.SECOND_FACTOR_AT_KEY] = int(time.time()) - settings.MFA_STEP_UP_SECONDS - 1
    session.save()
    answer = client.post("/t/acme/account/security", {"action": "remove", "factor": str(device.pk)})
    assert answer["Location"].startswith("/t/acme/mfa?next=")
    assert TotpDevice.objects.filter(pk=device.pk).exists()
    client.post(answer["Location"], {"code": next_code(secret)})
    assert client.post("/t/acme/account/security", {"action": "remove", "factor": str(device.pk)}).status_code == 302
    assert not TotpDevice.objects.filter(pk=device.pk).exists() and not RecoveryCode.objects.filter(
        user=world.member).exists()
    assert events("mfa.factor_removed", world.member).get().data["kind"] == "totp"


def test_another_persons_factor_cannot_be_removed(client, world, make_user):
    password_sign_in(client, world.owner)
    enrol_totp(client)
    theirs = TotpDevice.objects.get(user=world.owner)
    other = Client()
    password_sign_in(other, world.member, slug="acme")
    answer = other.post("/t/acme/account/security", {"action": "remove", "factor": str(theirs.pk)})
    assert answer.status_code == 404 and TotpDevice.objects.filter(pk=theirs.pk).exists()


def _enrol_soft_passkey(http, authenticator, *, slug="acme", origin="http://testserver"):
    options = post_json(http, f"/t/{slug}/account/security/passkey-options").json()
    credential = authenticator.create(options, origin=origin)
    return post_json(http, f"/t/{slug}/account/security/passkey", {"name": "Soft key", "credential": credential})


def test_passkey_of_another_account_or_for_another_origin_is_refused(client, world, settings):
    settings.PUBLIC_URL = "http://testserver"
    mine, theirs = SoftAuthenticator(), SoftAuthenticator()
    password_sign_in(client, world.member, slug="acme")
    assert _enrol_soft_passkey(client, mine).status_code == 200
    owner = Client()
    password_sign_in(owner, world.owner, slug="acme")
    assert _enrol_soft_passkey(owner, theirs).status_code == 200
    # Registration for another origin or RP ID is refused and stores nothing.
    phished = Client()
    password_sign_in(phished, world.auditor, slug="acme")
    refused = _enrol_soft_passkey(phished, SoftAuthenticator(), origin="https://evil.example")
    assert refused.status_code == 400 and refused.json()["error"] == "passkey_invalid"
    assert not Passkey.objects.filter(user=world.auditor).exists()

    browser = Client()
    password_sign_in(browser, world.member, slug="acme")
    options = post_json(browser, "/t/acme/mfa/passkey-options").json()
    other_account = post_json(browser, "/t/acme/mfa/passkey",
                              {"credential": theirs.get(options, origin="http://testserver")})
    assert other_account.status_code == 400 and other_account.json()["error"] == "passkey_other_account"
    options = post_json(browser, "/t/acme/mfa/passkey-options").json()
    other_origin = post_json(browser, "/t/acme/mfa/passkey",
                             {"credential": mine.get(options, origin="https://evil.example")})
    assert other_origin.status_code == 400 and "origin" in other_origin.json()["message"].lower()
    options = post_json(browser, "/t/acme/mfa/passkey-options").json()
    other_rp = post_json(browser, "/t/acme/mfa/passkey",
                         {"credential": mine.get(options, origin="http://testserver", rp_id="evil.example")})
    assert other_rp.status_code == 400
    assert "_auth_user_id" not in browser.session
    reasons = sorted(e.data["reason"] for e in events("mfa.challenge_failed", world.member))
    assert reasons == ["passkey_invalid", "passkey_invalid", "passkey_other_account"]
    assert Passkey.objects.get(user=world.owner).sign_count == 1  # the other account's passkey is untouched
    # The right passkey for the right origin signs in, as hwk + user.
    options = post_json(browser, "/t/acme/mfa/passkey-options").json()
    ok = post_json(browser, "/t/acme/mfa/passkey", {"credential": mine.get(options, origin="http://testserver")})
    assert ok.status_code == 200 and ok.json()["redirect"] == "/t/acme/"
    assert browser.session[authn.AMR_KEY] == ["pwd", "hwk", "user", "mfa"]
    # A replayed answer (its challenge is spent) is refused.
    assert post_json(browser, "/t/acme/mfa/passkey", {"credential": mine.get(options, origin="http://testserver")}
                     ).status_code in (400, 403)


def test_a_tenants_policy_is_its_own(client, two_tenants):
    """B's admin cannot read or change A's policy; A's policy binds A's people only."""
    from audit.services import Actor
    from identity.mfa import selectors, services

    a, b = two_tenants
    services.policy_set(tenant=a.tenant, rule="everyone", actor=Actor("test", "", "pytest"))
    password_sign_in(client, b.admin)
    assert client.get(f"/console/{a.slug}/mfa/").status_code == 404
    assert client.post(f"/console/{a.slug}/mfa/", {"rule": "off"}).status_code == 404
    assert selectors.rule_of(a.tenant) == "everyone" and selectors.rule_of(b.tenant) == "off"
    assert client.get("/console/").status_code in (200, 302) and "mfa_gate" not in client.session
    assert client.post(f"/console/{b.slug}/mfa/", {"rule": "admins"}).status_code == 302
    assert selectors.rule_of(b.tenant) == "admins" and selectors.rule_of(a.tenant) == "everyone"
    member_of_a = Client()
    assert password_sign_in(member_of_a, a.member, slug=a.slug)["Location"].startswith(
        f"/t/{a.slug}/account/security")


def test_platform_operators_must_have_a_second_factor_in_production(client, make_user, settings):
    operator = make_user("ops@platform.example", is_staff=True)
    settings.IS_PRODUCTION = True
    answer = password_sign_in(client, operator)
    assert answer["Location"].startswith("/account/security")
    assert client.get("/console/platform/tenants/")["Location"].startswith("/account/security")
    settings.IS_PRODUCTION = False
    assert password_sign_in(Client(), operator)["Location"] == "/console/"


def test_a_sign_in_that_skips_the_password_page_still_owes_the_second_factor(client, world):
    """An accepted invitation, a password reset or a provider's sign-in call login() themselves: a person
    with a factor reaches nothing but the challenge until they prove it."""
    password_sign_in(client, world.admin)
    secret, _ = enrol_totp(client)
    other = Client()
    other.force_login(world.admin, backend="identity.backends.EmailBackend")
    gated = other.get("/console/acme/")
    assert gated.status_code == 302 and gated["Location"].startswith("/mfa?next=%2Fconsole%2Facme%2F")
    api = other.get("/api/v1/members", HTTP_X_TENANT="acme")
    assert api.status_code == 403 and api.json()["error"]["code"] == "second_factor_required"
    answer = other.post(gated["Location"], {"code": next_code(secret)})
    assert answer["Location"] == "/console/acme/" and other.get("/console/acme/").status_code == 200


def test_the_policy_in_the_api_is_read_by_admins_and_changed_with_a_fresh_factor(client, two_tenants, settings):
    """GET/PATCH /api/v1/mfa-policy: the console page's setting, audited, step-up for a person, strict input;
    another tenant's admin naming A gets A's 404, and a plain member cannot change it."""
    a, b = two_tenants
    url, at_a = "/api/v1/mfa-policy", {"HTTP_X_TENANT": a.slug}
    password_sign_in(client, a.admin)
    assert client.get(url, **at_a).json() == {"rule": "off"}
    enrol_totp(client)  # a fresh factor
    changed = client.patch(url, {"rule": "admins"}, content_type="application/json", **at_a)
    assert changed.status_code == 200 and changed.json() == {"rule": "admins"}
    assert events("mfa.policy_updated", a.admin).get().data == {"before": "off", "after": "admins"}
    for bad in ({"rule": "sometimes"}, {"rule": "off", "grace_days": 3}):
        refused = client.patch(url, bad, content_type="application/json", **at_a)
        assert refused.status_code == 400 and refused.json()["error"]["code"], bad
    session = client.session
    session[authn.SECOND_FACTOR_AT_KEY] = int(time.time()) - settings.MFA_STEP_UP_SECONDS - 1
    session.save()
    stale = client.patch(url, {"rule": "off"}, content_type="application/json", **at_a)
    assert stale.status_code == 403 and stale.json()["error"]["code"] == "step_up_required"
    other = Client()
    password_sign_in(other, b.admin)
    assert other.get(url, **at_a).status_code == 404
    assert other.patch(url, {"rule": "off"}, content_type="application/json", **at_a).status_code == 404
    member = Client()
    password_sign_in(member, a.member)
    assert member.patch(url, {"rule": "off"}, content_type="application/json", **at_a).status_code in (403, 404)
    from identity.mfa import selectors

    assert selectors.rule_of(a.tenant) == "admins" and selectors.rule_of(b.tenant) == "off"
