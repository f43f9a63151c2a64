"""Refresh-token rotation (oauth/protocol/validators.py ``_rotate``): one conditional UPDATE claims the presented
token, so of two requests racing with the same token exactly one gets a new pair."""

import pytest
from django.test import Client

from oauth.models import AccessToken, RefreshToken
from oauth.protocol.validators import TenantOAuth2Validator
from tests.oauth.flows import authorize, exchange, refresh


def tokens(member_http, world, client, resource):
    auth = authorize(member_http, world.tenant, client, resource=resource.uri)
    response = exchange(member_http, world.tenant, client, auth)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db
def test_rotation_replaces_the_pair_and_deletes_the_old_access_token(member_http, world, resource, public_client):
    first = tokens(member_http, world, public_client, resource)
    old_access = AccessToken.objects.get(application=public_client)
    rotated = refresh(Client(), world.tenant, public_client, first["refresh_token"])
    assert rotated.status_code == 200, rotated.content
    assert not AccessToken.objects.filter(pk=old_access.pk).exists()
    old_refresh, new_refresh = RefreshToken.objects.filter(application=public_client).order_by("created")
    assert old_refresh.revoked is not None and old_refresh.access_token_id is None
    assert new_refresh.revoked is None and new_refresh.token_family == old_refresh.token_family
    assert AccessToken.objects.get(application=public_client).source_refresh_token_id == old_refresh.pk


@pytest.mark.django_db
def test_the_loser_of_a_race_for_one_refresh_token_gets_invalid_grant(member_http, world, resource,
                                                                      public_client, monkeypatch):
    """Both requests validated the token before either claimed it: the second claim finds it revoked."""
    first = tokens(member_http, world, public_client, resource)
    original = TenantOAuth2Validator._rotate

    def the_other_request_claims_it_first(self, token, request):
        RefreshToken.objects.filter(pk=request.refresh_token_instance.pk).update(revoked="2026-01-01T00:00Z")
        return original(self, token, request)

    monkeypatch.setattr(TenantOAuth2Validator, "_rotate", the_other_request_claims_it_first)
    lost = refresh(Client(), world.tenant, public_client, first["refresh_token"])
    assert lost.status_code == 400 and lost.json()["error"] == "invalid_grant"
    assert AccessToken.objects.filter(application=public_client).count() == 1  # nothing issued, nothing lost
    assert RefreshToken.objects.filter(application=public_client).count() == 1
