"""Client, resource and member pages each offer "revoke all tokens" of that object, queued as a job."""

import re

import pytest
from django.urls import reverse

from jobs.models import JobRun
from mcp_registry import services as registry
from tests.factories import make_client

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]  # also on SQLite (test.sh)
FORM = re.compile(r'<form class="inline revoke-tokens" method="post" action="([^"]+)"'
                  r'.*?name="(client_id|resource|user)" value="([^"]*)"', re.S)


def revoke_forms(page: str) -> list[tuple[str, str, str]]:
    return FORM.findall(page)


def test_object_pages_queue_a_revocation_of_that_object_only(two_tenants, signed_in):
    a, _ = two_tenants
    http = signed_in(a.owner)
    resource = registry.resource_create(tenant=a.tenant, actor=a.owner, name="notes",
                                        uri="https://notes.alpha.example/mcp", scopes=["notes:read"])
    app, _ = make_client(a.tenant, resources=[resource], name="Revocable")
    pages = {
        ("client_id", app.client_id): reverse("console:client", kwargs={"slug": "alpha", "client_pk": app.pk}),
        ("resource", resource.uri): reverse("console:resource", kwargs={"slug": "alpha", "resource_id": resource.pk}),
        ("user", a.member.email): reverse("console:members", kwargs={"slug": "alpha"}),
    }
    for (field, value), url in pages.items():
        forms = [f for f in revoke_forms(http.get(url).content.decode()) if f[1] == field and f[2] == value]
        assert forms, f"{url} offers no revocation of {field}={value}"
        action = forms[0][0]
        assert http.post(action, {field: value}).status_code == 302
    runs = JobRun.objects.filter(tenant=a.tenant, name__contains="revoke").order_by("created_at")
    assert [(r.params.get("client"), r.params.get("resource"), r.params.get("user")) for r in runs] == [
        (app.pk, None, None), (None, resource.uri, None), (None, None, str(a.member.pk))]


def test_auditors_see_no_revocation_forms(two_tenants, signed_in):
    a, _ = two_tenants
    response = signed_in(a.auditor).get(reverse("console:members", kwargs={"slug": "alpha"}))
    assert response.status_code == 200 and a.member.email in response.content.decode()
    assert not revoke_forms(response.content.decode())
