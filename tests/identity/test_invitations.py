"""Invitations: adding a member (console, API) or creating a tenant with its owner e-mails a tenant-branded,
single-use, expiring, revocable link; accepting it sets a password (or signs in); bad links change nothing."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from identity.models import Invitation, User
from tenants.models import Membership, Role

from .mail_links import link_in, path_of

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "violet-kettle-orbit-42"


def actions(tenant=None):
    qs = AuditEvent.objects.all() if tenant is None else AuditEvent.objects.filter(tenant=tenant)
    return list(qs.order_by("seq").values_list("action", flat=True)) if hasattr(AuditEvent, "seq") else \
        list(qs.order_by("occurred_at").values_list("action", flat=True))


def add_in_console(world, email, role="member"):
    admin = Client()
    admin.force_login(world.admin, backend="identity.backends.EmailBackend")
    response = admin.post(f"/console/{world.slug}/members/", {"email": email, "role": role})
    assert response.status_code == 302, response.content[:500]
    return admin


def accept_with_password(http, link, password=NEW_PASSWORD):
    response = http.get(path_of(link))
    assert response.status_code == 302 and "/invitation/" not in response["Location"], response
    page = http.get(response["Location"])
    return page, http.post(response["Location"], {"password1": password, "password2": password})


def test_a_member_added_in_the_console_gets_a_branded_invitation_and_sets_a_password(world, eager_tasks):
    world.tenant.display_name = "Acme Corp"
    world.tenant.save()
    add_in_console(world, "newcomer@example.com", role="admin")
    (message,) = mail.outbox
    assert message.to == ["newcomer@example.com"]
    assert message.from_email.startswith("Acme Corp <") and "Acme Corp" in message.subject
    assert world.tenant.accent_color in message.alternatives[0][0]
    link = link_in(message)
    invitation = Invitation.objects.for_tenant(world.tenant).get(email="newcomer@example.com")
    assert invitation.secret_digest and link.split(".")[-1] not in invitation.secret_digest  # hashed at rest

    person = Client()
    page, done = accept_with_password(person, link)
    assert page.status_code == 200 and b'id="set-password"' in page.content
    assert done.status_code == 302 and done["Location"] == f"/t/{world.slug}/"
    user = User.objects.get(email="newcomer@example.com")
    assert user.check_password(NEW_PASSWORD)
    assert person.get(f"/t/{world.slug}/").context["user"] == user  # signed in
    invitation.refresh_from_db()
    assert invitation.accepted_at and not invitation.secret_digest
    assert {"invitation.created", "invitation.sent", "invitation.accepted"} <= set(actions(world.tenant))
    assert Membership.objects.for_tenant(world.tenant).get(user=user).role == Role.ADMIN

    # the same link again, from another browser: a clear page, an audit event, nothing changed
    again = Client()
    refused = again.get(again.get(path_of(link))["Location"])
    assert refused.status_code == 410 and b'data-reason="used"' in refused.content
    assert "invitation.link_refused" in actions(world.tenant)
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_expired_revoked_forged_and_superseded_links_open_nothing(world, eager_tasks):
    admin = add_in_console(world, "late@example.com")
    first = link_in(mail.outbox[-1])
    invitation = Invitation.objects.for_tenant(world.tenant).get(email="late@example.com")

    def opened(link):
        http = Client()
        return http.get(http.get(path_of(link))["Location"])

    forged = first[:-4] + ("AAAA" if not first.endswith("AAAA") else "BBBB")
    assert opened(forged).status_code == 404
    invitation_id = first.rsplit("/", 1)[1].split(".")[0]
    assert opened(first.replace(invitation_id, "0" * 32)).status_code == 404
    assert opened(first.rsplit("/", 1)[0] + "/not-a-token").status_code == 404

    Invitation.objects.for_tenant(world.tenant).filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1))
    expired = opened(first)
    assert expired.status_code == 410 and b'data-reason="expired"' in expired.content

    # resend: a new link with a new expiry; the old one is dead
    assert admin.post(f"/console/{world.slug}/invitations/{invitation.pk}/resend").status_code == 302
    second = link_in(mail.outbox[-1])
    assert second != first and opened(first).status_code == 404
    assert opened(second).status_code == 200

    assert admin.post(f"/console/{world.slug}/invitations/{invitation.pk}/revoke").status_code == 302
    revoked = opened(second)
    assert revoked.status_code == 410 and b'data-reason="revoked"' in revoked.content
    user = User.objects.get(email="late@example.com")
    assert not user.has_usable_password()  # nothing any of these links did changed the account
    refusals = AuditEvent.objects.filter(tenant=world.tenant, action="invitation.link_refused")
    assert {e.data["reason"] for e in refusals} >= {"forged", "expired", "revoked"}
    assert {"invitation.resent", "invitation.revoked"} <= set(actions(world.tenant))


def test_a_weak_or_breached_password_is_refused_and_the_invitation_stays_open(world, eager_tasks):
    add_in_console(world, "weak@example.com")
    link = link_in(mail.outbox[-1])
    for bad in ("short1", "password123", "weak@example.com1"):
        _, response = accept_with_password(Client(), link, bad)
        assert response.status_code == 400, bad
    _, response = accept_with_password(Client(), link, "iloveyou2")
    assert response.status_code == 400 and b"breached" in response.content
    assert not User.objects.get(email="weak@example.com").has_usable_password()
    assert Invitation.objects.for_tenant(world.tenant).get(email="weak@example.com").status == "pending"


def test_an_account_that_has_a_password_signs_in_then_accepts(world, make_world, eager_tasks):
    other = make_world("globex")
    add_in_console(world, other.member.email)  # already has a password (a member of globex)
    link = link_in(mail.outbox[-1])
    http = Client()
    accept_page = http.get(path_of(link))["Location"]
    page = http.get(accept_page)
    assert b'id="sign-in-to-accept"' in page.content and b'id="set-password"' not in page.content
    assert http.post(accept_page, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}).status_code == 403
    from tests.factories import PASSWORD

    signed = http.post(f"/t/{world.slug}/login?next={accept_page}", {"username": other.member.email,
                                                                      "password": PASSWORD})
    assert signed.status_code == 302 and signed["Location"] == accept_page
    assert b'id="accept-invitation"' in http.get(accept_page).content
    assert http.post(accept_page).status_code == 302
    other.member.refresh_from_db()
    assert other.member.check_password(PASSWORD)  # the invitation never touches an existing password
    assert Invitation.objects.for_tenant(world.tenant).get(email=other.member.email).status == "accepted"


def test_the_api_invites_lists_resends_and_revokes(world, eager_tasks):
    admin = Client()
    admin.force_login(world.admin, backend="identity.backends.EmailBackend")
    headers = {"HTTP_X_TENANT": world.slug}
    created = admin.post("/api/v1/members", {"email": "api@example.com", "role": "member"},
                         content_type="application/json", **headers)
    assert created.status_code == 201, created.content
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["api@example.com"]
    listed = admin.get("/api/v1/invitations?status=pending", **headers).json()
    (item,) = [i for i in listed["results"] if i["email"] == "api@example.com"]
    assert item["status"] == "pending" and item["sends"] == 1 and "secret" not in str(item)
    resent = admin.post(f"/api/v1/invitations/{item['id']}/resend", **headers)
    assert resent.status_code == 200 and len(mail.outbox) == 2  # the mail task counts the send
    assert admin.get(f"/api/v1/invitations/{item['id']}", **headers).json()["sends"] == 2
    revoked = admin.post(f"/api/v1/invitations/{item['id']}/revoke", **headers)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    again = admin.post(f"/api/v1/invitations/{item['id']}/resend", **headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    member = Client()
    member.force_login(world.member, backend="identity.backends.EmailBackend")
    assert member.get("/api/v1/invitations", **headers).status_code in (403, 404)


def test_removing_a_member_ends_their_pending_invitation(world, eager_tasks):
    admin = add_in_console(world, "gone@example.com")
    link = link_in(mail.outbox[-1])
    membership = Membership.objects.for_tenant(world.tenant).get(user__email="gone@example.com")
    admin.post(f"/console/{world.slug}/members/{membership.pk}/remove")
    http = Client()
    assert http.get(http.get(path_of(link))["Location"]).status_code == 410


def test_the_operator_creates_a_tenant_with_its_first_owner_invited(make_user, eager_tasks):
    operator = make_user("operator@platform.example", is_staff=True)
    http = Client()
    http.force_login(operator, backend="identity.backends.EmailBackend")
    response = http.post("/console/platform/tenants/", {"slug": "initech", "name": "Initech", "accent_color": "#112233",
                                                        "owner_email": "boss@initech.example"})
    assert response.status_code == 302, response.content[:800]
    (message,) = mail.outbox
    assert message.to == ["boss@initech.example"] and "/t/initech/invitation/" in link_in(message)
    assert Membership.objects.unscoped().get(user__email="boss@initech.example").role == Role.OWNER

    api = http.post("/api/v1/tenants", {"slug": "hooli", "name": "Hooli", "owner_email": "gavin@hooli.example"},
                    content_type="application/json")
    assert api.status_code == 201, api.content
    assert mail.outbox[-1].to == ["gavin@hooli.example"] and "owner_email" not in api.json()

    call_command("create_tenant", "piedpiper", "--owner", "richard@piedpiper.example", stdout=open("/dev/null", "w"))
    assert mail.outbox[-1].to == ["richard@piedpiper.example"]
    invitation = Invitation.objects.unscoped().get(email="richard@piedpiper.example")
    assert invitation.role == Role.OWNER and invitation.tenant.slug == "piedpiper"


def test_another_tenant_cannot_list_resend_revoke_or_open_this_tenants_invitations(world, make_world, eager_tasks):
    other = make_world("globex")
    add_in_console(world, "only-acme@example.com")
    link = link_in(mail.outbox[-1])
    invitation = Invitation.objects.for_tenant(world.tenant).get(email="only-acme@example.com")
    foreign = Client()
    foreign.force_login(other.admin, backend="identity.backends.EmailBackend")
    assert "only-acme@example.com" not in foreign.get(f"/console/{other.slug}/invitations/?status=all").content.decode()
    for verb in ("resend", "revoke"):
        assert foreign.post(f"/console/{other.slug}/invitations/{invitation.pk}/{verb}").status_code == 404
        assert foreign.post(f"/api/v1/invitations/{invitation.pk}/{verb}", HTTP_X_TENANT=other.slug).status_code == 404
    assert foreign.get(f"/console/{world.slug}/invitations/").status_code == 404
    # acme's link at globex's pages opens nothing there
    http = Client()
    moved = path_of(link).replace(f"/t/{world.slug}/", f"/t/{other.slug}/")
    assert http.get(http.get(moved)["Location"]).status_code == 404
    invitation.refresh_from_db()
    assert invitation.status == "pending" and invitation.sends == 1


def test_an_invitee_whose_domain_signs_in_through_sso_accepts_through_the_provider(world, make_idp, oidc_provider,
                                                                                  eager_tasks):
    from .conftest import new_account, sign_in_via_idp

    make_idp(world.tenant, domains=("corp.example",), sso_required=True)
    add_in_console(world, "ada@corp.example")
    link = link_in(mail.outbox[-1])
    http = Client()
    accept_page = http.get(path_of(link))["Location"]
    page = http.get(accept_page)
    assert page.context["mode"] == "sign_in" and page.context["sso_only"]
    assert b'id="set-password"' not in page.content and b'data-idp="corp"' in page.content
    (idp, start_url), = page.context["providers"]
    assert http.post(accept_page, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}).status_code == 403

    login = new_account(oidc_provider, email="ada@corp.example")
    back, _ = sign_in_via_idp(http, oidc_provider, start_url, login)
    assert back.status_code == 302 and back["Location"] == accept_page
    assert http.get(accept_page).context["mode"] == "accept"
    assert http.post(accept_page).status_code == 302
    invitation = Invitation.objects.for_tenant(world.tenant).get(email="ada@corp.example")
    assert invitation.status == "accepted"
    assert not User.objects.get(email="ada@corp.example").has_usable_password()  # SSO only, as the tenant wants


def test_the_invitation_speaks_the_tenants_default_language(world, eager_tasks):
    """The console is English, but the invitee is one of the tenant's people: the mail and the page it opens
    are in the tenant's default language."""
    world.tenant.default_language = "de"
    world.tenant.save(update_fields=["default_language"])
    add_in_console(world, "neu@example.com")
    (message,) = mail.outbox
    assert message.subject == "Sie sind zu Acme eingeladen"
    assert "Der Link funktioniert einmal" in message.body and 'lang="de"' in message.alternatives[0][0]
    response = Client().get(path_of(link_in(message)))
    page = Client().get(response["Location"]) if response.status_code == 302 else response
    assert '<html lang="de">' in page.content.decode()
