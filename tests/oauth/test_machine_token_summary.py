"""Machine tokens are audited as one summary per client, resource, scope and minute (oauth/grants/summaries.py):
no per-token audit row on the token path, and still no issuance unrecorded."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from oauth.grants import revocation, summaries
from oauth.models import AccessToken, TokenSummaryCursor
from tests.factories import make_agent, make_resource
from tests.oauth.flows import client_credentials


def issue(tenant, agent, secret, resource, n, **extra):
    http = Client()
    for _ in range(n):
        response = client_credentials(http, tenant, agent, secret, resource=resource.uri, **extra)
        assert response.status_code == 200, response.content


def summaries_of(tenant):
    return list(AuditEvent.objects.filter(tenant=tenant, action="tokens.issued").order_by("seq"))


def later(minutes=2):
    return timezone.now() + timedelta(minutes=minutes)


@pytest.mark.django_db
def test_machine_tokens_write_no_audit_row_on_the_token_path_and_one_summary_per_minute(world, resource):
    agent, secret = make_agent(world.tenant, resources=[resource])
    before = AuditEvent.objects.filter(tenant=world.tenant).count()
    issue(world.tenant, agent, secret, resource, 5)
    assert AuditEvent.objects.filter(tenant=world.tenant).count() == before  # nothing per token

    assert summaries.summarise_machine_tokens(now=later()) == 1
    [event] = summaries_of(world.tenant)
    assert event.client_id == agent.client_id and event.resource == resource.uri
    assert event.actor_type == "client" and event.target_id == str(agent.pk)
    assert event.data["count"] == 5 and event.data["grant_type"] == "client_credentials"
    assert event.data["scope"] == AccessToken.objects.filter(application=agent).first().scope
    start = timezone.datetime.fromisoformat(event.data["window_start"])
    assert start.second == 0 and timezone.datetime.fromisoformat(event.data["window_end"]) - start == timedelta(
        minutes=1)


@pytest.mark.django_db
def test_each_minute_is_summarised_exactly_once_however_often_the_job_runs(world, resource):
    agent, secret = make_agent(world.tenant, resources=[resource])
    issue(world.tenant, agent, secret, resource, 3)
    now = later()
    assert summaries.summarise_machine_tokens(now=now) == 1
    assert summaries.summarise_machine_tokens(now=now) == 0          # a duplicate delivery
    assert summaries.summarise_machine_tokens(now=later(3)) == 0     # the next minute had no tokens
    first = set(AccessToken.objects.filter(application=agent).values_list("pk", flat=True))
    issue(world.tenant, agent, secret, resource, 2)
    # Issued in a minute the cursor has not reached yet: they are counted in that minute's summary.
    AccessToken.objects.filter(application=agent).exclude(pk__in=first).update(created=later(4))
    assert summaries.summarise_machine_tokens(now=later(6)) == 1
    assert [e.data["count"] for e in summaries_of(world.tenant)] == [3, 2]


@pytest.mark.django_db
def test_a_minute_still_being_written_is_not_summarised_yet(world, resource):
    agent, secret = make_agent(world.tenant, resources=[resource])
    issue(world.tenant, agent, secret, resource, 1)
    assert summaries.summarise_machine_tokens(now=timezone.now()) == 0  # the current minute is open
    assert summaries_of(world.tenant) == []
    assert summaries.summarise_machine_tokens(now=later()) == 1


@pytest.mark.django_db
def test_groups_are_per_client_resource_and_scope_and_each_lands_in_its_own_tenants_chain(make_world):
    a, b = make_world("suma"), make_world("sumb")
    res_a = make_resource(a.tenant, "https://mcp.suma.example/mcp", name="files",
                          scopes=[("files:read", "Read", True), ("files:write", "Write", False)])
    res_b = make_resource(b.tenant, "https://mcp.sumb.example/mcp", name="files")
    agent_a, secret_a = make_agent(a.tenant, resources=[res_a])
    other_a, other_secret = make_agent(a.tenant, resources=[res_a], name="Other")
    agent_b, secret_b = make_agent(b.tenant, resources=[res_b])
    issue(a.tenant, agent_a, secret_a, res_a, 2)
    issue(a.tenant, agent_a, secret_a, res_a, 1, scope="files:write")
    issue(a.tenant, other_a, other_secret, res_a, 1)
    issue(b.tenant, agent_b, secret_b, res_b, 4)

    assert summaries.summarise_machine_tokens(now=later()) == 4
    found_a = {(e.client_id, e.data["scope"], e.data["count"]) for e in summaries_of(a.tenant)}
    assert found_a == {(agent_a.client_id, "files:read", 2), (agent_a.client_id, "files:write", 1),
                       (other_a.client_id, "files:read", 1)}
    [event_b] = summaries_of(b.tenant)
    assert (event_b.client_id, event_b.data["count"], event_b.chain) == (agent_b.client_id, 4, str(b.tenant.pk))
    assert not AuditEvent.objects.filter(tenant=b.tenant, client_id__in=[agent_a.client_id, other_a.client_id])


@pytest.mark.django_db
def test_security_events_of_machine_clients_are_each_counted(make_world):
    from audit.failures import summarise_failures

    a, b = make_world("seca"), make_world("secb")
    res_b = make_resource(b.tenant, "https://mcp.secb.example/mcp", name="files")
    agent_b, secret_b = make_agent(b.tenant, resources=[res_b])
    for _ in range(2):  # B's credentials presented at A: refused; the first is an event, both are counted
        response = client_credentials(Client(), a.tenant, agent_b, secret_b, resource=res_b.uri)
        assert response.status_code == 401
    assert AuditEvent.objects.filter(tenant=a.tenant, action="security.cross_tenant_attempt").count() == 1
    summarise_failures(now=timezone.now() + timedelta(minutes=2))
    counted = {e.data["summarised_action"]: e.data["count"]
               for e in AuditEvent.objects.filter(tenant=a.tenant, action="security.failures_summarised")}
    assert counted == {"security.cross_tenant_attempt": 2, "security.client_auth_failed": 2}


@pytest.mark.django_db
def test_the_purge_spares_expired_machine_tokens_until_they_are_summarised(world, resource):
    agent, secret = make_agent(world.tenant, resources=[resource])
    issue(world.tenant, agent, secret, resource, 2)
    AccessToken.objects.filter(application=agent).update(expires=timezone.now() - timedelta(seconds=1))
    TokenSummaryCursor.objects.create(key=summaries.CURSOR, summarised_until=timezone.now() - timedelta(hours=1))
    revocation.purge_expired()
    assert AccessToken.objects.filter(application=agent).count() == 2  # not yet counted: kept
    summaries.summarise_machine_tokens(now=later())
    revocation.purge_expired()
    assert AccessToken.objects.filter(application=agent).count() == 0
    assert summaries_of(world.tenant)[0].data["count"] == 2
