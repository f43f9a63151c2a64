"""Search: the API and the console explorer filter one tenant's events, page with cursors, and never
show another tenant's events."""

from __future__ import annotations

import pytest
from django.db import connection

from audit.models import AuditEvent
from audit.selectors import EventFilter, iter_events, search_events

pytestmark = pytest.mark.django_db
API = "/api/v1/audit/events"


def events_table(response) -> str:
    assert response.status_code == 200
    html = response.content.decode()
    return html.split('<table class="events">')[1].split("</table>")[0]


def actions(response):
    assert response.status_code == 200, response.content
    return [e["action"] for e in response.json()["results"]]


@pytest.mark.parametrize("query, expected", [
    ("action=client.created", ["client.created"]),
    ("action=client.", ["client.created"]),
    ("client=a-client-1", ["token.issued", "client.created"]),
    ("resource=https://a.example/mcp", ["resource.created", "token.issued"]),
    ("actor=cli-robot", ["token.issued"]),
    ("actor=admin@alpha.example", ["resource.created", "client.created"]),
    ("target_type=oauth.application&target_id=a-c1", ["token.issued", "client.created"]),
])
def test_api_filters_select_the_matching_events(varied_log, signed_in, query, expected):
    a, _ = varied_log
    assert actions(signed_in(a.auditor).get(f"{API}?{query}")) == expected


def test_api_filters_by_severity(varied_log, signed_in):
    a, _ = varied_log
    body = signed_in(a.admin).get(f"{API}?severity=notice&page_size=500").json()["results"]
    assert {"signin.failed", "resource.created", "client.created"} <= {e["action"] for e in body}
    assert {e["severity"] for e in body} == {"notice"}


def test_api_filters_by_ip_and_time_range(varied_log, signed_in, client):
    a, _ = varied_log
    api = signed_in(a.admin)
    api.post(f"/console/{a.slug}/members/", {"email": "n@alpha.example", "role": "member"}, REMOTE_ADDR="10.9.8.7")
    # adding a member in the console also invites them (identity/people): both events, from that address
    assert actions(api.get(f"{API}?ip=10.9.8.7")) == ["invitation.created", "membership.added"]
    added = AuditEvent.objects.get(tenant=a.tenant, action="membership.added", ip="10.9.8.7")
    since = added.occurred_at.isoformat().replace("+00:00", "Z")
    assert actions(api.get(f"{API}", {"since": since})) == ["invitation.created", "membership.added"]
    until = [e["id"] for e in api.get(f"{API}", {"until": since, "page_size": 500}).json()["results"]]
    assert until and str(added.pk) not in until  # the world's own members were added before it


def test_bad_filters_are_named(signed_in, two_tenants):
    a, _ = two_tenants
    response = signed_in(a.admin).get(f"{API}?severity=loud&since=yesterday")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error" and set(error["fields"]) <= {"severity", "since"}


def test_cursor_pagination_walks_every_event_once(varied_log, signed_in):
    a, _ = varied_log
    api = signed_in(a.admin)
    seen, url = [], f"{API}?page_size=2"
    while url:
        body = api.get(url).json()
        seen += [e["id"] for e in body["results"]]
        url = body["next"]
    expected = list(AuditEvent.objects.filter(tenant=a.tenant).order_by("-occurred_at", "-id")
                    .values_list("id", flat=True))
    assert seen == expected and len(seen) > 4


def test_other_tenants_events_are_invisible_in_the_api(varied_log, signed_in):
    a, b = varied_log
    a_event = AuditEvent.objects.filter(tenant=a.tenant).first()
    api = signed_in(b.admin)
    listed = api.get(f"{API}?page_size=500").json()["results"]
    assert listed and all(e["chain"] == str(b.tenant.pk) for e in listed)
    assert api.get(f"{API}?client=a-client-1").json()["results"] == []
    assert api.get(f"{API}/{a_event.pk}").status_code == 404
    probe = AuditEvent.objects.get(tenant=b.tenant, action="security.cross_tenant_attempt")
    assert probe.severity == "warning" and probe.actor_label == b.admin.email and str(a_event.pk) not in str(
        probe.data)
    assert api.get(API, HTTP_X_TENANT=a.slug).status_code == 404
    assert api.get(f"{API}/export.jsonl", HTTP_X_TENANT=a.slug).status_code == 404
    assert api.get("/api/v1/audit/verification", HTTP_X_TENANT=a.slug).status_code == 404
    exported = b"".join(api.get(f"{API}/export.jsonl").streaming_content)
    assert str(a.tenant.pk).encode() not in exported and b"a-client-1" not in exported


def test_members_without_a_console_role_cannot_read_the_log(varied_log, signed_in):
    a, _ = varied_log
    assert signed_in(a.member).get(API, HTTP_X_TENANT=a.slug).status_code == 404


def test_console_explorer_filters_and_pages(varied_log, signed_in):
    a, _ = varied_log
    console = signed_in(a.auditor)
    page = events_table(console.get(f"/console/{a.slug}/audit/", {"client": "a-client-1"}))
    assert "token.issued" in page and "client.created" in page and "resource.created" not in page
    bad = console.get(f"/console/{a.slug}/audit/", {"ip": "not-an-ip"})
    assert bad.status_code == 200 and "is not an IP address" in bad.content.decode()


def test_console_event_detail_and_cross_tenant_404(varied_log, signed_in):
    a, b = varied_log
    event = AuditEvent.objects.get(tenant=a.tenant, action="token.issued")
    detail = signed_in(a.auditor).get(f"/console/{a.slug}/audit/events/{event.pk}/")
    assert detail.status_code == 200 and "a-client-1" in detail.content.decode()
    assert "Audit events for this target" in detail.content.decode()
    other = signed_in(b.admin)
    assert other.get(f"/console/{b.slug}/audit/events/{event.pk}/").status_code == 404
    assert other.get(f"/console/{a.slug}/audit/events/{event.pk}/").status_code == 404
    assert other.get(f"/console/{a.slug}/audit/").status_code == 404
    assert other.get(f"/console/{a.slug}/audit/export.jsonl").status_code == 404


def test_events_link_helper_lists_the_objects_events(varied_log, signed_in):
    from django.template.loader import render_to_string

    a, _ = varied_log
    html = render_to_string("console/audit_link.html", {"tenant": a.tenant, "target_type": "oauth.application",
                                                        "target_id": "a-c1", "label": "client"})
    href = html.split('href="')[1].split('"')[0].replace("&amp;", "&")
    page = events_table(signed_in(a.admin).get(href))
    assert "token.issued" in page and "client.created" in page and "resource.created" not in page


def test_iter_events_reads_in_bounded_chunks(varied_log, django_assert_num_queries):
    a, _ = varied_log
    queryset = search_events(a.tenant, EventFilter())
    expected = list(queryset.values_list("id", flat=True))
    with django_assert_num_queries(len(expected) // 2 + 1):
        got = [e.pk for e in iter_events(queryset, chunk=2)]
    assert got == expected


FILTER_INDEXES = [
    ({}, "audit_tenant_time"),
    ({"action": "client.created"}, "audit_tenant_action_time"),
    ({"actor": "7"}, "audit_tenant_actor_time"),
    ({"actor": "user7@alpha.example"}, "audit_tenant_actor_label_time"),
    ({"target_type": "oauth.application", "target_id": "77"}, "audit_tenant_target"),
    ({"severity": "warning"}, "audit_tenant_severity_time"),
    ({"client": "client-7"}, "audit_tenant_client_time"),
    ({"resource": "https://r7.example/mcp"}, "audit_tenant_resource_time"),
    ({"ip": "10.0.0.7"}, "audit_tenant_ip_time"),
]


def test_each_filter_is_served_by_its_index_on_postgresql(two_tenants):
    """20 000 events of one tenant (set-based insert) and ANALYZE: the planner must pick each filter's index."""
    assert connection.vendor == "postgresql"
    a, b = two_tenants
    with connection.cursor() as cursor:
        cursor.execute(GENERATE, [str(a.tenant.pk)])
        cursor.execute("ANALYZE audit_auditevent")
    for filters, index in FILTER_INDEXES:
        sql, params = search_events(a.tenant, EventFilter.from_query(filters))[:50].query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert index in plan and "Seq Scan" not in plan, (filters, plan)


GENERATE = """
INSERT INTO audit_auditevent (chain, seq, tenant_id, occurred_at, action, severity, actor_type, actor_id,
    actor_label, target_type, target_id, target_label, client_id, resource, ip, user_agent, request_id, data,
    prev_hash, hash)
SELECT 'explain', g, %s, now() - (g || ' seconds')::interval, 'act.' || (g %% 40),
    CASE WHEN g %% 97 = 0 THEN 'warning' ELSE 'info' END, 'user', (g %% 500)::text,
    'user' || (g %% 500) || '@alpha.example', 'oauth.application', (g %% 2000)::text, '',
    CASE WHEN g %% 3 = 0 THEN 'client-' || (g %% 300) ELSE '' END,
    CASE WHEN g %% 5 = 0 THEN 'https://r' || (g %% 100) || '.example/mcp' ELSE '' END,
    CASE WHEN g %% 2 = 0 THEN ('10.0.' || (g %% 50) || '.' || (g %% 250))::inet ELSE NULL END,
    '', '', '{}', '', ''
FROM generate_series(1, 20000) AS g
"""
