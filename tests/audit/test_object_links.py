"""Every object page links to the audit events about that object, and the link finds them."""

import re

import pytest
from django.urls import reverse

from audit.services import Actor
from identity import services as identity_services
from mcp_registry import services as registry_services
from tests.factories import make_client, make_resource

pytestmark = pytest.mark.django_db
LINK = re.compile(r'href="(/console/[^"]+/audit/\?target_type=[^"]+)"')


def events_behind_link(client, page_url: str) -> str:
    page = client.get(page_url)
    assert page.status_code == 200
    links = LINK.findall(page.content.decode())
    assert links, f"{page_url} has no link to its audit events"
    return client.get(links[0].replace("&amp;", "&")).content.decode()


def test_client_resource_key_and_provider_pages_link_to_their_events(two_tenants, signed_in):
    a, _ = two_tenants
    client = signed_in(a.owner)
    resource = make_resource(a.tenant, "https://mcp.alpha.example/mcp")
    app, _ = make_client(a.tenant, resources=[resource], name="Linked Client")
    idp = identity_services.identity_provider_create(
        tenant=a.tenant, name="Corp IdP", slug="corp", actor=Actor("test", "", "pytest"),
        discovery_url="https://idp.corp.example/.well-known/openid-configuration", issuer="https://idp.corp.example",
        client_id="platform", client_secret="s3cret-value-for-tests")

    assert "client.created" in events_behind_link(
        client, reverse("console:client", kwargs={"slug": "alpha", "client_pk": app.pk}))
    assert "sso.provider_created" in events_behind_link(
        client, reverse("console:sso-provider", kwargs={"slug": "alpha", "idp_id": idp.pk}))
    assert "key.created" in events_behind_link(client, reverse("console:keys", kwargs={"slug": "alpha"}))
    registered = registry_services.resource_create(tenant=a.tenant, actor=a.owner, name="notes",
                                                   uri="https://notes.alpha.example/mcp")
    assert "resource.created" in events_behind_link(
        client, reverse("console:resource", kwargs={"slug": "alpha", "resource_id": registered.pk}))
