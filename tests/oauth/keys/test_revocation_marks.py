"""Revocation marks (oauth/grants/revocation.py, oauth.grants.selectors.not_revoked_by_mark): a bulk revocation takes
effect when the request commits, on every path that accepts a token, before the purge job has run
(``enqueue=False``: no worker touches the rows); the job then deletes the rows and the mark."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from jobs.models import JobStatus
from jobs.services import job_request_cancel
from oauth.grants import revocation
from oauth.grants import selectors as grant_selectors
from oauth.models import AccessToken, RefreshToken, RevocationMark, api_audience
from oauth.protocol.endpoints.introspect import describe
from tests.factories import ACTOR, add_member, make_agent, make_client, make_resource
from tests.oauth.flows import authorize, basic, client_credentials, exchange, refresh

from .helpers import insert_tokens, token_value

pytestmark = pytest.mark.embedded  # also on SQLite without Redis (test.sh's embedded lane)

URI = "https://mcp.same.example/mcp"


class Estate:
    """A tenant with a resource, a public client people sign in with, the resource server's client
    (introspects, authenticated by its secret, so no mark can cover it) and an admin bot for /api/v1."""

    def __init__(self, world, http):
        self.world, self.tenant, self.http = world, world.tenant, http
        self.resource = make_resource(self.tenant, URI, name="files")
        self.app, _ = make_client(self.tenant, resources=[self.resource], name="Claude Desktop")
        self.rs, self.rs_secret = make_agent(self.tenant, resources=[self.resource], name="files server")
        self.bot, self.bot_secret = make_agent(self.tenant, scopes=["admin:tokens.read"], name="Ops bot")

    def sign_in_tokens(self) -> dict:
        """Access and refresh token of the world's member, through authorize and the token endpoint."""
        self.http.force_login(self.world.member, backend="identity.backends.EmailBackend")
        auth = authorize(self.http, self.tenant, self.app, resource=URI)
        body = exchange(self.http, self.tenant, self.app, auth).json()
        assert "refresh_token" in body, body
        return body

    def introspect(self, token: str) -> dict:
        return Client().post(f"/t/{self.tenant.slug}/introspect", {"token": token},
                             HTTP_AUTHORIZATION=basic(self.rs.client_id, self.rs_secret)).json()

    def api_token(self) -> str:
        answer = client_credentials(Client(), self.tenant, self.bot, self.bot_secret, resource=api_audience(),
                                    scope="admin:tokens.read")
        assert answer.status_code == 200, answer.content
        return answer.json()["access_token"]

    def api_tokens(self, bearer: str):
        return Client().get("/api/v1/tokens", HTTP_AUTHORIZATION=f"Bearer {bearer}")

    def refresh(self, token: str):
        return refresh(Client(), self.tenant, self.app, token)


@pytest.fixture
def alpha(make_world, client):
    return Estate(make_world("alpha"), client)


@pytest.mark.django_db
def test_a_mark_refuses_its_tokens_everywhere_before_the_purge_and_accepts_later_ones(alpha):
    person = alpha.sign_in_tokens()
    bearer = alpha.api_token()
    assert alpha.introspect(person["access_token"])["active"] is True
    assert alpha.api_tokens(bearer).status_code == 200

    run = revocation.revocation_request(tenant=alpha.tenant, actor=ACTOR, everything=True, enqueue=False)

    # In force at once: the rows are all still there, no job has run.
    assert run.status == JobStatus.QUEUED and AccessToken.objects.for_tenant(alpha.tenant).count() == 2
    assert alpha.introspect(person["access_token"]) == {"active": False}
    assert alpha.introspect(person["refresh_token"]) == {"active": False}
    refused = alpha.refresh(person["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert RefreshToken.objects.for_tenant(alpha.tenant).get().revoked is None  # refused, not a reuse: no family kill
    assert alpha.api_tokens(bearer).status_code == 401

    # Issued after the mark: accepted, and the only ones listed.
    later = alpha.sign_in_tokens()
    new_bearer = alpha.api_token()
    assert alpha.introspect(later["access_token"])["active"] is True
    listed = alpha.api_tokens(new_bearer)
    assert listed.status_code == 200
    assert sorted(row["client_id"] for row in listed.json()["results"]) == sorted(
        [alpha.app.client_id, alpha.bot.client_id])
    assert grant_selectors.tokens_of(alpha.tenant).count() == 2
    rotated = alpha.refresh(later["refresh_token"])
    assert rotated.status_code == 200, rotated.content

    # The purge deletes what the mark covered, then the mark; the later tokens survive it.
    finished = revocation.revocation_run(run_id=run.pk)
    assert finished.status == JobStatus.SUCCEEDED and finished.result == {"revoked": 3}  # 2 access, 1 refresh
    assert not RevocationMark.objects.for_tenant(alpha.tenant).exists()
    assert RefreshToken.objects.for_tenant(alpha.tenant).filter(
        token_checksum=grant_selectors.token_checksum(person["refresh_token"])).get().revoked is not None
    assert alpha.introspect(rotated.json()["access_token"])["active"] is True
    assert alpha.api_tokens(new_bearer).status_code == 200
    assert alpha.introspect(person["access_token"]) == {"active": False}


@pytest.mark.django_db
def test_a_code_issued_before_the_mark_is_not_exchanged_after_it(alpha):
    alpha.http.force_login(alpha.world.member, backend="identity.backends.EmailBackend")
    auth = authorize(alpha.http, alpha.tenant, alpha.app, resource=URI)
    revocation.revocation_request(tenant=alpha.tenant, actor=ACTOR, client=alpha.app, enqueue=False)
    answer = exchange(alpha.http, alpha.tenant, alpha.app, auth)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


@pytest.mark.django_db
def test_a_key_mark_refuses_access_tokens_but_leaves_refresh_tokens_usable(alpha):
    person = alpha.sign_in_tokens()
    kid = AccessToken.objects.for_tenant(alpha.tenant).get().kid
    assert kid
    run = revocation.revocation_request(tenant=alpha.tenant, actor=ACTOR, kid=kid, enqueue=False)
    assert alpha.introspect(person["access_token"]) == {"active": False}
    assert alpha.introspect(person["refresh_token"])["active"] is True
    rotated = alpha.refresh(person["refresh_token"])
    assert rotated.status_code == 200, rotated.content
    assert alpha.introspect(rotated.json()["access_token"])["active"] is True  # issued after the mark
    # (the refresh already replaced the old access-token row: nothing is left for the purge but the mark)
    assert revocation.revocation_run(run_id=run.pk).status == JobStatus.SUCCEEDED
    assert not RevocationMark.objects.for_tenant(alpha.tenant).exists()
    assert alpha.introspect(rotated.json()["access_token"])["active"] is True


@pytest.mark.django_db
def test_a_mark_leaves_identical_looking_tokens_of_another_tenant_alone(two_tenants, make_user):
    a, b = two_tenants
    shared = make_user("both@tenants.example")  # one person, a member of both
    rows = {}
    for world in (a, b):
        add_member(world.tenant, shared, "member")
        agent, _ = make_agent(world.tenant, name="agent")  # resource URIs are platform-unique; audiences not
        insert_tokens(tenant=world.tenant, client=agent, count=20, prefix=world.slug, user=shared, audience=URI,
                      kid="same-kid")
        rows[world.slug] = agent
    for criteria in ({"user": shared}, {"resource": URI}, {"kid": "same-kid"}, {"everything": True}):
        revocation.revocation_request(tenant=a.tenant, actor=ACTOR, enqueue=False, **criteria)
        assert describe(a.tenant, token_value("alpha", 3)) == {"active": False}, criteria
        assert describe(b.tenant, token_value("bravo", 3))["active"] is True, criteria
    revocation.revocation_request(tenant=a.tenant, actor=ACTOR, client=rows["alpha"], enqueue=False)
    assert grant_selectors.tokens_of(a.tenant).count() == 0
    assert grant_selectors.tokens_of(b.tenant).count() == 20
    assert RevocationMark.objects.for_tenant(b.tenant).count() == 0


@pytest.mark.django_db
def test_a_mark_covers_only_what_it_names(setup, make_user):
    tenant = setup.tenant
    alice, bob = make_user("alice@keys.example"), make_user("bob@keys.example")
    for person in (alice, bob):  # a person's tokens count while they are members (oauth.grants.selectors.presentable)
        add_member(tenant, person, "member")
    insert_tokens(tenant=tenant, client=setup.agent, count=3, prefix="alice", user=alice, audience=URI)
    insert_tokens(tenant=tenant, client=setup.agent, count=3, prefix="alice-elsewhere", user=alice,
                  audience="https://elsewhere.example/mcp")
    insert_tokens(tenant=tenant, client=setup.agent, count=3, prefix="bob", user=bob, audience=URI)
    revocation.revocation_request(tenant=tenant, actor=ACTOR, user=alice, resource=URI, enqueue=False)
    assert describe(tenant, token_value("alice", 1)) == {"active": False}
    assert describe(tenant, token_value("alice-elsewhere", 1))["active"] is True
    assert describe(tenant, token_value("bob", 1))["active"] is True
    assert grant_selectors.tokens_of(tenant).count() == 6


@pytest.mark.django_db
def test_cancelling_stops_the_purge_but_not_the_revocation(setup):
    insert_tokens(tenant=setup.tenant, client=setup.agent, count=30, prefix="mine")
    run = revocation.revocation_request(tenant=setup.tenant, actor=ACTOR, client=setup.agent, enqueue=False)

    def cancel_after_first_batch(done, total):
        job_request_cancel(run=run, actor=ACTOR)

    finished = revocation.revocation_run(run_id=run.pk, batch_size=10, on_batch=cancel_after_first_batch)
    assert finished.status == JobStatus.CANCELLED
    assert AccessToken.objects.for_tenant(setup.tenant).count() == 20  # rows left behind by the cancel ...
    assert RevocationMark.objects.for_tenant(setup.tenant).filter(job=run).exists()  # ... stay refused
    assert describe(setup.tenant, token_value("mine", 29)) == {"active": False}


@pytest.mark.django_db
def test_a_family_revocation_writes_no_mark(setup, make_user):
    person = make_user("family@keys.example")
    add_member(setup.tenant, person, "member")
    insert_tokens(tenant=setup.tenant, client=setup.agent, count=1, prefix="fam", user=person)
    token = AccessToken.objects.for_tenant(setup.tenant).get()
    rt = RefreshToken.objects.create(tenant=setup.tenant, user=person, application=setup.agent, access_token=token,
                                     token="", token_checksum="f" * 64, token_family=uuid.uuid4())
    run = revocation.revocation_request(tenant=setup.tenant, actor=ACTOR, family=rt.token_family, enqueue=False)
    assert not RevocationMark.objects.exists() and "issued_before" not in run.params
    assert revocation.revocation_run(run_id=run.pk).result == {"revoked": 2}


@pytest.mark.django_db
def test_after_a_key_revocation_purged_the_access_token_its_refresh_token_still_refreshes(alpha):
    """A revocation by signing key deletes the access tokens only: their refresh tokens, left without a
    partner, move the client onto the new key (and stay refusable by every other revocation)."""
    person = alpha.sign_in_tokens()
    kid = AccessToken.objects.for_tenant(alpha.tenant).get().kid
    run = revocation.revocation_request(tenant=alpha.tenant, actor=ACTOR, kid=kid, enqueue=False)
    assert revocation.revocation_run(run_id=run.pk).status == JobStatus.SUCCEEDED
    assert not AccessToken.objects.for_tenant(alpha.tenant).exists()  # purged: the refresh token is alone
    rotated = alpha.refresh(person["refresh_token"])
    assert rotated.status_code == 200, rotated.content
    assert alpha.introspect(rotated.json()["access_token"])["active"] is True
    assert alpha.refresh(person["refresh_token"]).status_code == 400  # and rotated away, as always
