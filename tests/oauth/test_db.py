"""kit.db.insert_row writes exactly the row Model.save() writes, and sends the same signals."""

import pytest
from django.db.models import signals
from django.utils import timezone

from kit.db import insert_row
from oauth.models import AccessToken
from tests.factories import make_agent

EXPIRES = timezone.now()


def token_row(tenant, client, value: str) -> AccessToken:
    row = AccessToken(tenant=tenant, application=client, scope="tools:read", expires=EXPIRES,
                      resource=["https://mcp.acme.example/mcp"], audience="https://mcp.acme.example/mcp",
                      jti=value[-8:], grant_type="client_credentials", kid="kid-1")
    row.token, row.token_checksum = value, value[:64]
    return row


def columns(row: AccessToken) -> dict:
    skip = {"id", "token", "token_checksum", "jti", "created", "updated"}
    return {f.attname: getattr(row, f.attname) for f in AccessToken._meta.concrete_fields if f.attname not in skip}


@pytest.mark.django_db
def test_insert_row_writes_what_save_writes_and_sends_the_same_signals(world, resource):
    client, _ = make_agent(world.tenant, resources=[resource])
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append((kwargs.get("created"), instance.pk is not None))

    signals.post_save.connect(receiver, sender=AccessToken)
    try:
        saved = token_row(world.tenant, client, "a" * 70)
        saved.save()
        inserted = insert_row(token_row(world.tenant, client, "b" * 70))
        insert_row(token_row(world.tenant, client, "c" * 70))  # the compiled statement, reused
    finally:
        signals.post_save.disconnect(receiver, sender=AccessToken)
    assert inserted.pk is not None and not inserted._state.adding
    assert seen == [(True, True)] * 3
    from_db = {r.token: r for r in AccessToken.objects.filter(application=client)}
    assert columns(from_db["b" * 70]) == columns(from_db["a" * 70]) == columns(from_db["c" * 70])
    assert from_db["b" * 70].created is not None and from_db["b" * 70].updated is not None
    assert AccessToken.objects.filter(pk=inserted.pk, tenant=world.tenant, application=client).exists()
