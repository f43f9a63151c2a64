"""Every write to tokens and consent: revocation, refresh-family and code-replay defence, issuance records.

Each service audits in the same transaction. Revoking what a client, a user or a resource holds goes
through the one revocation engine (oauth/grants/revocation.py), at once and inside the caller's
transaction here; the bulk requests of the console and API run the same engine as a job.
"""

from __future__ import annotations

import hashlib

from django.db import transaction
from django.utils import timezone

import audit
from audit.services import Actor
from mcp_registry.models import MCPResource
from tenants.models import Tenant

from ..errors import OAuthServiceError
from ..models import AccessToken, Application, Consent, RefreshToken
from .revocation import revoke_at_once


def checksum(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# --- tokens ---------------------------------------------------------------------------------------

@transaction.atomic
def token_revoke(*, token_row, actor, request=None) -> None:
    """Revokes one access or refresh token and the token paired with it."""
    tenant = token_row.tenant
    if isinstance(token_row, AccessToken):
        RefreshToken.objects.for_tenant(tenant).filter(access_token=token_row, revoked__isnull=True).update(
            revoked=timezone.now(), access_token=None)
        kind = "access_token"
        summary = {"audience": token_row.audience, "scope": token_row.scope}
        token_row.delete()
    else:
        kind = "refresh_token"
        summary = {"audience": token_row.audience}
        now = timezone.now()
        RefreshToken.objects.for_tenant(tenant).filter(pk=token_row.pk, revoked__isnull=True).update(
            revoked=now, updated=now, access_token=None)
        if token_row.access_token_id:
            AccessToken.objects.for_tenant(tenant).filter(pk=token_row.access_token_id).delete()
    audit.record(tenant, actor, "token.revoked", (kind, str(token_row.pk), kind), request,
                 client_id=token_row.application.public_client_id if token_row.application_id else "", **summary)


@transaction.atomic
def tokens_revoke_for(*, tenant, client: Application | None = None, user=None, resource=None, actor,
                      request=None) -> int:
    """Revokes every token of a client, a user and/or a resource (an MCPResource or its URI)."""
    if client is None and user is None and resource is None:
        raise OAuthServiceError("name a client, a user or a resource whose tokens to revoke")
    audience = resource.uri if isinstance(resource, MCPResource) else resource
    count = revoke_at_once(tenant=tenant, client=client, user=user, resource=audience)
    audit.record(tenant, actor, "tokens.revoked", None, request, revoked=count,
                 client_id=client.public_client_id if client else None, user=str(user.pk) if user else None,
                 resource=audience)
    return count


@transaction.atomic
def refresh_family_revoke(*, refresh_token: RefreshToken, request=None) -> None:
    """A rotated-away refresh token came back: someone holds a copy, so the whole rotation chain dies
    (RFC 9700 §4.14.2). Recorded as a security event where it is detected."""
    RefreshToken.revoke_family(refresh_token.token_family)
    audit.record(refresh_token.tenant, refresh_token.application, "security.refresh_token_reused", refresh_token,
                 request, client_id=refresh_token.application.public_client_id, user=str(refresh_token.user_id or ""),
                 resource=refresh_token.audience, family=str(refresh_token.token_family))


@transaction.atomic
def pkce_failure_record(*, client: Application, request=None) -> None:
    """A code redeemed with the wrong code_verifier: someone holds a code but not its verifier."""
    audit.record(client.tenant, client, "security.pkce_failed", client, request, client_id=client.public_client_id)


def cross_tenant_client_record(*, tenant, client_id: str, request=None) -> bool:
    """A client id unknown here but registered at another tenant: recorded in both chains. This tenant's
    event does not name the owner (its admins must learn nothing of other tenants); the owner's names
    where its credential was presented."""
    owner_id = (Application.objects.unscoped().filter(client_id=client_id).exclude(tenant=tenant)
                .values_list("tenant_id", flat=True).first())
    if owner_id is None:
        return False
    owner = Tenant.objects.get(pk=owner_id)
    actor = Actor("anonymous", "", client_id)
    # Aggregated per client id and minute in each chain (audit/failures.py): a probe loop is one line a minute.
    audit.failure(tenant, "security.cross_tenant_attempt", source=client_id, actor=actor,
                  target=("oauth.application", "", client_id), request=request, credential="client_id")
    audit.failure(owner, "security.cross_tenant_attempt", source=client_id, actor=actor,
                  target=("oauth.application", "", client_id), request=request, credential="client_id",
                  presented_at=tenant.slug)
    return True


def code_replay_revoke(*, client: Application, code: str, request=None) -> bool:
    """A second use of an authorization code: revoke what the first use got (RFC 6749 §4.1.2)."""
    digest = checksum(code)
    tenant = client.tenant
    families = list(RefreshToken.objects.for_tenant(tenant).filter(application=client, code_checksum=digest)
                    .values_list("token_family", flat=True).distinct())
    tokens = AccessToken.objects.for_tenant(tenant).filter(application=client, code_checksum=digest)
    if not families and not tokens.exists():
        return False
    for family in families:
        RefreshToken.revoke_family(family)
    tokens.delete()
    audit.record(tenant, client, "token.code_replay", client, request,
                 families_revoked=len(families))
    return True


def token_issued(*, client: Application, grant_type: str, audience: str, scope: str, user=None,
                 request=None, resource_chosen_by: str = "request") -> None:
    """``resource_chosen_by``: "request" when the client named the resource, else the default rule's step
    (oauth.protocol.targets.CHOSEN_BY); a refresh without ``resource`` repeats how its authorization chose it."""
    audit.record(client.tenant, client, "token.issued", client, request, grant_type=grant_type,
                 audience=audience, scope=scope, user=str(user.pk) if user else None,
                 resource_chosen_by=resource_chosen_by, resource_by_default=resource_chosen_by != "request")


@transaction.atomic
def user_access_end(*, tenant, user, actor, reason: str, request=None) -> dict:
    """Everything a person holds at a tenant ends now: access and refresh tokens, pending codes and
    consents. Called when they are removed from the tenant or their account is deactivated (receivers)."""
    revoked = revoke_at_once(tenant=tenant, user=user)
    consents, _ = Consent.objects.for_tenant(tenant).filter(user=user).delete()
    audit.record(tenant, actor, "access.user_ended", user, request, reason=reason, email=user.email,
                 tokens_revoked=revoked, consents_deleted=consents)
    return {"tokens_revoked": revoked, "consents_deleted": consents}


# --- consent --------------------------------------------------------------------------------------

@transaction.atomic
def consent_grant(*, tenant, user, client: Application, audience: str, scopes, request=None,
                  resource_chosen_by: str = "request") -> Consent:
    scopes = " ".join(sorted(set(scopes)))
    consent, created = Consent.objects.for_tenant(tenant).select_for_update().get_or_create(
        tenant=tenant, user=user, application=client, audience=audience, defaults={"scopes": scopes})
    if not created:
        consent.scopes = " ".join(sorted(consent.scope_set | set(scopes.split())))
        consent.save(update_fields=["scopes", "updated_at"])
    audit.record(tenant, user, "consent.granted", consent, request, client_id=client.public_client_id,
                 audience=audience, scopes=scopes, resource_chosen_by=resource_chosen_by,
                 resource_by_default=resource_chosen_by != "request")
    return consent


@transaction.atomic
def consent_revoke(*, consent: Consent, actor, request=None) -> int:
    """Forgets the consent and revokes the tokens it led to."""
    tenant = consent.tenant
    revoked = revoke_at_once(tenant=tenant, client=consent.application, user=consent.user,
                             resource=consent.audience or None)
    audit.record(tenant, actor, "consent.revoked", consent, request, client_id=consent.application.public_client_id,
                 audience=consent.audience, tokens_revoked=revoked)
    consent.delete()
    return revoked
