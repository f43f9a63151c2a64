"""Issue 16 item 2: a management client never exceeds the authority of whoever created it, never grants
admin scopes its token does not hold, cannot change its own or a more powerful client (its secret
included), and owner changes need owner authority, through a token as through a session."""

from __future__ import annotations

import pytest
from django.test import Client

from oauth.models import ADMIN_SCOPES, Application
from tenants.models import Membership, Role
from tests.oauth.flows import client_credentials

from .conftest import Api

pytestmark = pytest.mark.django_db


def _token_api(http, tenant, client_id: str, secret: str, scope: str | None = None) -> Api:
    from oauth.models import api_audience

    agent = Application.objects.unscoped().get(client_id=client_id)
    extra = {"resource": api_audience(), **({"scope": scope} if scope else {})}
    answer = client_credentials(http, tenant, agent, secret, **extra)
    assert answer.status_code == 200, answer.content
    return Api(Client(), token=answer.json()["access_token"])


def _create_bot(session: Api, scopes: list[str], name: str = "Ops bot") -> dict:
    created = session.post("clients", {"name": name, "client_type": "confidential",
                                       "grant_types": ["client_credentials"], "scopes": scopes})
    assert created.status_code == 201, created.content
    return created.json()


def test_an_admins_bot_with_admin_members_cannot_make_anyone_owner_or_touch_the_owner(estates, session_api, client):
    a, _ = estates
    world = a.world
    bot = _create_bot(session_api(world.admin, "alpha"), ["admin:members"])
    assert bot["creator_role"] == "admin"
    api = _token_api(client, a.tenant, bot["client_id"], bot["client_secret"])
    admin_membership = Membership.objects.get(tenant=a.tenant, user=world.admin)
    owner_membership = Membership.objects.get(tenant=a.tenant, user=world.owner)

    promoted = api.patch(f"members/{admin_membership.pk}", {"role": "owner"})
    assert promoted.status_code == 403 and promoted.json()["error"]["code"] == "forbidden"
    demoted = api.patch(f"members/{owner_membership.pk}", {"role": "member"})
    assert demoted.status_code == 403
    removed = api.delete(f"members/{owner_membership.pk}")
    assert removed.status_code == 403
    added = api.post("members", {"email": "crony@alpha.example", "role": "owner"})
    assert added.status_code == 403
    assert Membership.objects.get(pk=admin_membership.pk).role == Role.ADMIN
    assert Membership.objects.get(pk=owner_membership.pk).role == Role.OWNER
    # What an admin may do, the admin's bot may do.
    assert api.patch(f"members/{Membership.objects.get(tenant=a.tenant, user=world.member).pk}",
                     {"role": "auditor"}).status_code == 200


def test_an_owners_bot_may_change_owners(estates, session_api, client):
    a, _ = estates
    bot = _create_bot(session_api(a.world.owner, "alpha"), ["admin:members"])
    assert bot["creator_role"] == "owner"
    api = _token_api(client, a.tenant, bot["client_id"], bot["client_secret"])
    admin_membership = Membership.objects.get(tenant=a.tenant, user=a.world.admin)
    assert api.patch(f"members/{admin_membership.pk}", {"role": "owner"}).status_code == 200


def test_a_clients_only_token_cannot_mint_widen_or_take_over_stronger_clients(estates, session_api, client):
    a, _ = estates
    full = a.agent  # the tenant's full-admin bot (every admin scope)
    bot = _create_bot(session_api(a.world.admin, "alpha"), ["admin:clients"], name="Clients bot")
    api = _token_api(client, a.tenant, bot["client_id"], bot["client_secret"])

    minted = api.post("clients", {"name": "Everything", "client_type": "confidential",
                                  "grant_types": ["client_credentials"], "scopes": list(ADMIN_SCOPES)})
    assert minted.status_code == 403 and "admin:members" in minted.json()["error"]["message"]
    assert not Application.objects.unscoped().filter(name="Everything").exists()

    widened = api.patch(f"clients/{bot['client_id']}", {"scopes": list(ADMIN_SCOPES)})
    assert widened.status_code == 403
    renamed_self = api.patch(f"clients/{bot['client_id']}", {"name": "still me"})
    assert renamed_self.status_code == 403
    assert Application.objects.unscoped().get(client_id=bot["client_id"]).allowed_scopes == "admin:clients"

    for path, body in ((f"clients/{full.client_id}/rotate-secret", None),
                       (f"clients/{full.client_id}/suspend", {"reason": "mine now"})):
        refused = api.post(path, body)
        assert refused.status_code == 403, path
    assert api.patch(f"clients/{full.client_id}", {"scopes": ["admin:clients"]}).status_code == 403
    assert api.delete(f"clients/{full.client_id}").status_code == 403
    from oauth.models import api_audience

    unchanged = client_credentials(client, a.tenant, full, a.agent_secret, resource=api_audience())
    assert unchanged.status_code == 200  # its secret still works

    # Within its authority it works: a client with scopes it holds, which it may then manage.
    made = api.post("clients", {"name": "Reader", "client_type": "confidential",
                                "grant_types": ["client_credentials"], "scopes": ["admin:clients.read"]})
    assert made.status_code == 201 and made.json()["creator_role"] == "admin"
    assert api.post(f"clients/{made.json()['client_id']}/rotate-secret").status_code == 200


def test_a_session_admin_cannot_rotate_the_secret_of_an_owner_created_client(estates, session_api, client):
    a, _ = estates
    owners_bot = _create_bot(session_api(a.world.owner, "alpha"), ["admin:members"], name="Owner bot")
    client.logout()
    admin = session_api(a.world.admin, "alpha")
    refused = admin.post(f"clients/{owners_bot['client_id']}/rotate-secret")
    assert refused.status_code == 403 and "owner" in refused.json()["error"]["message"]
    assert admin.patch(f"clients/{owners_bot['client_id']}", {"name": "x"}).status_code == 403


def test_the_console_applies_the_same_rule(estates, session_api, client):
    a, _ = estates
    owners_bot = _create_bot(session_api(a.world.owner, "alpha"), ["admin:members"], name="Owner bot")
    client.logout()
    client.force_login(a.world.admin, backend="identity.backends.EmailBackend")
    pk = Application.objects.unscoped().get(client_id=owners_bot["client_id"]).pk
    before = Application.objects.unscoped().get(pk=pk).client_secret
    client.post(f"/console/alpha/clients/{pk}/rotate-secret")
    assert Application.objects.unscoped().get(pk=pk).client_secret == before
