"""The one tenant resolver (tenants/resolver.py): its strategies and their order."""

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from tenants import resolver
from tenants.models import Tenant, TenantStatus
from tenants.resolver import Call, TenantRefused, resolve
from tests.factories import add_member

DOMAIN = "login.alpha.example"


@pytest.fixture
def alpha_on_its_domain(two_tenants):
    a, b = two_tenants
    Tenant.objects.filter(pk=a.tenant.pk).update(custom_domain=DOMAIN, custom_domain_verified=True)
    return a, b


def request_of(user, *, auth=None, headers=None, session=None):
    request = RequestFactory().get("/api/v1/members", **(headers or {}))
    request.user, request.auth, request.session = user, auth, session or {}
    return request


def test_the_path_beats_a_custom_domain(alpha_on_its_domain):
    a, b = alpha_on_its_domain
    found = resolve(Call(path=f"/t/{b.slug}/token", host=lambda: DOMAIN))
    assert (found.tenant.pk, found.strategy) == (b.tenant.pk, "path")
    found = resolve(Call(path=f"/.well-known/oauth-authorization-server/t/{b.slug}", host=lambda: DOMAIN))
    assert found.tenant.pk == b.tenant.pk
    found = resolve(Call(path="/token", host=lambda: f"{DOMAIN}:443"))
    assert (found.tenant.pk, found.strategy) == (a.tenant.pk, "custom_domain")


def test_the_order_is_the_resolvers_not_the_callers(alpha_on_its_domain):
    _a, b = alpha_on_its_domain
    found = resolve(Call(path=f"/t/{b.slug}/token", host=lambda: DOMAIN),
                    (resolver.by_custom_domain, resolver.by_path))
    assert found.strategy == "path"


def test_an_unknown_slug_refuses_and_no_later_strategy_is_asked(alpha_on_its_domain):
    asked = []
    with pytest.raises(TenantRefused) as refused:
        resolve(Call(path="/t/nosuch/token", host=lambda: asked.append("host") or DOMAIN))
    assert (refused.value.status, refused.value.code) == (404, "unknown_tenant") and asked == []


def test_the_platforms_own_hosts_never_look_up_a_domain(alpha_on_its_domain, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert resolve(Call(path="/console/", host=lambda: "testserver")) is None


def test_a_suspended_tenant_is_refused_unless_the_caller_shows_it(alpha_on_its_domain):
    a, _b = alpha_on_its_domain
    Tenant.objects.filter(pk=a.tenant.pk).update(status=TenantStatus.SUSPENDED, suspended_reason="review")
    with pytest.raises(TenantRefused) as refused:
        resolve(Call(path="/token", host=lambda: DOMAIN))
    assert (refused.value.status, refused.value.code, refused.value.tenant.pk) == (403, "tenant_suspended",
                                                                                   a.tenant.pk)
    call = Call(path="/", request=request_of(a.admin), console_slug=a.slug)
    assert resolve(call, (resolver.by_console_session,), active_only=False).tenant.pk == a.tenant.pk


def test_the_api_credential_beats_the_console_session(two_tenants):
    a, b = two_tenants
    token = SimpleNamespace(tenant=a.tenant, scopes=["admin:members.read"])
    found = resolve(Call.of(request_of(b.admin, auth=token, headers={"HTTP_X_TENANT": b.slug})), resolver.API)
    assert (found.tenant.pk, found.strategy, found.scopes) == (a.tenant.pk, "credential",
                                                               frozenset({"admin:members.read"}))
    found = resolve(Call.of(request_of(b.admin, headers={"HTTP_X_TENANT": b.slug})), resolver.API)
    assert (found.tenant.pk, found.strategy, found.membership.user_id) == (b.tenant.pk, "console_session",
                                                                           b.admin.pk)


def test_the_console_session_names_its_tenant_by_url_then_header_then_session(two_tenants, make_user):
    from tenants.models import Role

    a, b = two_tenants
    both = make_user("both@example.com")
    for world in (a, b):
        add_member(world.tenant, both, Role.ADMIN)
    session = {resolver.SESSION_TENANT_KEY: b.slug}
    by_url = Call.of(request_of(both, headers={"HTTP_X_TENANT": b.slug}, session=session), console_slug=a.slug)
    assert resolve(by_url, resolver.API).tenant.pk == a.tenant.pk
    by_header = Call.of(request_of(both, headers={"HTTP_X_TENANT": a.slug}, session=session))
    assert resolve(by_header, resolver.API).tenant.pk == a.tenant.pk
    assert resolve(Call.of(request_of(both, session=session)), resolver.API).tenant.pk == b.tenant.pk
    with pytest.raises(TenantRefused) as refused:  # two tenants, none named
        resolve(Call.of(request_of(both)), resolver.API)
    assert refused.value.status == 403


@pytest.mark.parametrize(("who", "status"), [("member", 404), ("stranger", 404), ("anonymous", 401)])
def test_the_console_session_refuses_who_cannot_administer(two_tenants, who, status):
    a, b = two_tenants
    user = {"member": a.member, "stranger": b.admin, "anonymous": AnonymousUser()}[who]
    with pytest.raises(TenantRefused) as refused:
        resolve(Call.of(request_of(user, headers={"HTTP_X_TENANT": a.slug})), resolver.API)
    assert refused.value.status == status
