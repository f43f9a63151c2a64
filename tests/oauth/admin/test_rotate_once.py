""""Rotate now" twice (a double click, two operators) rotates once: the second names a key that is no longer
active and is a no-op, audited."""

import pytest

from audit.models import AuditEvent
from oauth.models import KeyState, SigningKey

pytestmark = pytest.mark.django_db


def active_kid(tenant) -> str:
    return SigningKey.objects.get(tenant=tenant, state=KeyState.ACTIVE).kid


def test_api_rotation_with_a_stale_expected_kid_is_a_409_and_rotates_nothing(two_tenants, signed_in):
    a, _ = two_tenants
    client = signed_in(a.owner)
    seen = active_kid(a.tenant)
    first = client.post("/api/v1/keys/rotate", {"expected_kid": seen}, content_type="application/json",
                        HTTP_X_TENANT="alpha")
    assert first.status_code == 200 and first.json()["kid"] != seen
    second = client.post("/api/v1/keys/rotate", {"expected_kid": seen}, content_type="application/json",
                         HTTP_X_TENANT="alpha")
    assert second.status_code == 409 and second.json()["error"]["code"] == "conflict"
    assert active_kid(a.tenant) == first.json()["kid"]
    assert AuditEvent.objects.filter(tenant=a.tenant, action="key.rotated").count() == 1
    assert AuditEvent.objects.filter(tenant=a.tenant, action="key.rotation_skipped").count() == 1


def test_console_double_submit_rotates_once(two_tenants, signed_in):
    a, _ = two_tenants
    client = signed_in(a.owner)
    page = client.get("/console/alpha/keys/").content.decode()
    seen = active_kid(a.tenant)
    assert f'name="expected_kid" value="{seen}"' in page
    for _ in range(2):
        assert client.post("/console/alpha/keys/", {"expected_kid": seen, "alg": "ES256"}).status_code == 302
    assert AuditEvent.objects.filter(tenant=a.tenant, action="key.rotated").count() == 1
    assert SigningKey.objects.get(tenant=a.tenant, state=KeyState.ACTIVE).alg == "ES256"
