"""Account squatting through JIT provisioning (issue 16, item 9).

The review: alpha's provider signed in ``newhire@beta.test`` first, which created the platform account
and made it alpha's member; bravo's own SSO then refused that person for good ("belongs to another
tenant"). The rule now (identity.models.VerifiedEmailDomain): the tenant whose e-mail domain the
operator verified may always create or claim accounts for its addresses; another tenant's provider may
neither create nor claim accounts there; unverified domains keep the cautious default. Everything goes
through the real node-oidc-provider and the real sign-in endpoints.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent
from identity.models import FederatedIdentity
from tenants.models import Membership
from tests.identity.conftest import new_account, sign_in_via_idp

pytestmark = pytest.mark.django_db


def _sign_in(client_factory, oidc_provider, tenant_slug, idp_slug, login):
    response, _ = sign_in_via_idp(client_factory(), oidc_provider, f"/t/{tenant_slug}/sso/{idp_slug}/start", login)
    return response


def test_another_tenants_provider_cannot_lock_out_the_domains_own_people(two_tenants, make_idp, oidc_provider,
                                                                         client_factory, capsys):
    a, b = two_tenants
    make_idp(a.tenant, slug="acme-idp", domains=[])  # alpha's provider vouches for any domain
    make_idp(b.tenant, slug="beta-idp", domains=["beta.test"])
    squatted = _sign_in(client_factory, oidc_provider, "alpha", "acme-idp",
                        new_account(oidc_provider, email="newhire@beta.test"))
    assert squatted.status_code == 302  # the squat itself (an unverified domain: a new account is allowed)
    user = Membership.objects.get(tenant=a.tenant, user__email="newhire@beta.test").user

    # Before bravo proves the domain its provider may not take over an account alpha holds, and says so
    # without naming alpha.
    real_person = new_account(oidc_provider, email="newhire@beta.test")
    refused = _sign_in(client_factory, oidc_provider, "bravo", "beta-idp", real_person)
    assert refused.status_code == 400
    assert "another tenant" not in refused.content.decode() and "alpha" not in refused.content.decode().lower()

    call_command("email_domain", "verify", "bravo", "beta.test")
    assert "beta.test" in (capsys.readouterr().out)
    signed_in = _sign_in(client_factory, oidc_provider, "bravo", "beta-idp", real_person)
    assert signed_in.status_code == 302, signed_in.content[:500]
    assert FederatedIdentity.objects.unscoped().get(tenant=b.tenant, subject=real_person).user == user
    assert Membership.objects.filter(tenant=b.tenant, user=user).exists()
    assert AuditEvent.objects.filter(tenant=b.tenant, action="sso.email_domain_verified",
                                     data__domain="beta.test").exists()


def test_once_verified_no_other_tenants_provider_creates_or_claims_accounts_there(two_tenants, make_idp,
                                                                                   oidc_provider, client_factory):
    from django.contrib.auth import get_user_model

    a, b = two_tenants
    call_command("email_domain", "verify", "bravo", "beta.test")
    make_idp(a.tenant, slug="acme-idp", domains=[])
    created = _sign_in(client_factory, oidc_provider, "alpha", "acme-idp",
                       new_account(oidc_provider, email="second@beta.test"))
    assert created.status_code == 400
    assert not get_user_model().objects.filter(email="second@beta.test").exists()
    failed = AuditEvent.objects.filter(tenant=a.tenant, action="sso.signin_failed").latest("seq")
    assert failed.data["reason"] == "account_not_linkable" and "another tenant" not in failed.data["message"]
    # bravo's own person, and alpha's existing members at alpha's own provider, are unaffected.
    make_idp(b.tenant, slug="beta-idp", domains=["beta.test"])
    assert _sign_in(client_factory, oidc_provider, "bravo", "beta-idp",
                    new_account(oidc_provider, email="second@beta.test")).status_code == 302


def test_a_domain_is_verified_for_one_tenant_at_a_time(two_tenants, capsys):
    call_command("email_domain", "verify", "alpha", "Shared.Example.")
    with pytest.raises(CommandError, match="another tenant"):
        call_command("email_domain", "verify", "bravo", "shared.example")
    with pytest.raises(CommandError, match="not a domain"):
        call_command("email_domain", "verify", "bravo", "not a domain")
    call_command("email_domain", "list", "alpha")
    assert "shared.example" in capsys.readouterr().out
    call_command("email_domain", "remove", "alpha", "shared.example")
    call_command("email_domain", "verify", "bravo", "shared.example")
