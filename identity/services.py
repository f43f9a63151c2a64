"""Writes for people and their sign-in methods: passwords and upstream identity providers (SSO).

Each write records its audit event in the same transaction. Sign-in failures are recorded by
``federated_sign_in_failed`` outside the failed transaction, so the event survives the rollback.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from importlib import import_module

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

import audit
from audit.services import Actor
from kit import crypto
from kit.errors import ApplicationError
from tenants.models import Membership, Role
from tenants.services import membership_add, membership_change_role

from .models import (
    MAPPABLE_ROLES,
    ROLE_RANK,
    ClientAuthMethod,
    FederatedIdentity,
    FederatedSession,
    IdentityProvider,
    LogoutTokenUse,
    Preset,
    VerifiedEmailDomain,
)
from .sso.oidc import MappedClaims, SSOError, check_provider_url
from .sso.presets import preset_settings


@transaction.atomic
def user_set_password(*, user, password: str, actor, request=None):
    user.set_password(password)
    user.save(update_fields=["password"])
    audit.record(None, actor, "user.password_set", user, request)
    return user


# --- Identity providers ---------------------------------------------------------------------------------

EDITABLE_FIELDS = (
    "name", "discovery_url", "issuer", "client_id", "client_auth_method", "scopes", "response_mode",
    "claim_subject", "claim_email", "claim_email_verified", "claim_name", "claim_groups", "assume_email_verified",
    "use_userinfo", "allowed_tenant_ids", "domains", "jit_provisioning", "default_role", "group_roles",
    "sso_required", "enabled",
)
DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def provider_actor(idp: IdentityProvider) -> Actor:
    """The provider as the actor of what its assertions cause (JIT provisioning, mapped roles)."""
    return Actor("identity_provider", str(idp.pk), f"{idp.name} ({idp.slug})")


class IdentityServiceError(ApplicationError):
    """An identity-provider or sign-in rule refused the change; the message says what to do instead."""


def _invalid(message: str, field: str) -> IdentityServiceError:
    return IdentityServiceError(message, code="invalid", field=field)


def _clean_list(value, field: str) -> list[str]:
    if isinstance(value, str):
        value = re.split(r"[\s,]+", value)
    if not isinstance(value, list | tuple):
        raise _invalid("give a list", field)
    return sorted({str(v).strip().lower() for v in value if str(v).strip()})


def _clean_domains(value) -> list[str]:
    domains = _clean_list(value, "domains")
    bad = [d for d in domains if not DOMAIN.match(d)]
    if bad:
        raise _invalid(f"'{bad[0]}' is not an e-mail domain (like example.com)", "domains")
    return domains


def _clean_group_roles(value) -> dict:
    if isinstance(value, str):  # "group = role" lines, as the console form sends them
        pairs = {}
        for line in filter(None, (raw.strip() for raw in value.splitlines())):
            group, sep, role = line.rpartition("=")
            if not sep:
                raise _invalid(f"write each mapping as 'group = role', not '{line[:80]}'", "group_roles")
            pairs[group.strip()] = role.strip().lower()
        value = pairs
    if not isinstance(value, dict):
        raise _invalid('give an object like {"mcp-admins": "admin"}', "group_roles")
    allowed = [r.value for r in MAPPABLE_ROLES]
    for group, role in value.items():
        if not str(group).strip():
            raise _invalid("a group name is empty", "group_roles")
        if role not in allowed:
            raise _invalid(f"group '{group}' maps to '{role}'; a provider may grant only {', '.join(allowed)} "
                           "(owners are named by a person)", "group_roles")
    return {str(g).strip(): r for g, r in value.items()}


def _normalise(changes: dict) -> dict:
    if "domains" in changes:
        changes["domains"] = _clean_domains(changes["domains"])
    if "allowed_tenant_ids" in changes:
        changes["allowed_tenant_ids"] = _clean_list(changes["allowed_tenant_ids"], "allowed_tenant_ids")
    if "group_roles" in changes:
        changes["group_roles"] = _clean_group_roles(changes["group_roles"])
    if "scopes" in changes:
        scopes = " ".join(dict.fromkeys((changes["scopes"] or "").split()))
        changes["scopes"] = scopes if "openid" in scopes.split() else f"openid {scopes}".strip()
    for name in ("name", "client_id", "discovery_url", "issuer"):
        if name in changes:
            changes[name] = (changes[name] or "").strip()
    if changes.get("discovery_url") and not changes.get("issuer"):
        # OpenID Connect Discovery §4: the document lives at <issuer>/.well-known/openid-configuration.
        issuer, sep, _ = changes["discovery_url"].partition("/.well-known/openid-configuration")
        if sep:
            changes["issuer"] = issuer
    return changes


def _validate(idp: IdentityProvider, client_secret: str | None) -> None:
    try:
        idp.full_clean(exclude=["tenant"])
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise _invalid(f"{field.replace('_', ' ')}: {' '.join(messages)}", field) from exc
    try:
        check_provider_url(idp.discovery_url, "The discovery URL")
    except SSOError as exc:
        raise _invalid(str(exc), "discovery_url") from exc
    if "{tenantid}" in idp.issuer and not idp.allowed_tenant_ids:
        raise _invalid("a multi-tenant Entra ID issuer needs the directory ids allowed to sign in "
                       "(otherwise any Microsoft directory could)", "allowed_tenant_ids")
    if idp.client_auth_method != ClientAuthMethod.PRIVATE_KEY_JWT and not (
            client_secret or idp.client_secret_encrypted):
        raise _invalid("give the client secret the provider issued, or choose private_key_jwt", "client_secret")
    if idp.sso_required and not idp.domains:
        raise _invalid("name the e-mail domains whose password sign-in SSO replaces", "domains")


def _store_secret(idp: IdentityProvider, client_secret: str | None) -> None:
    if client_secret:
        idp.client_secret_encrypted = crypto.encrypt(client_secret.encode(), aad=idp.client_secret_aad)


def _ensure_key(idp: IdentityProvider) -> None:
    """private_key_jwt: a key pair of the platform's own, for this provider only (no key reuse across roles)."""
    if idp.client_auth_method != ClientAuthMethod.PRIVATE_KEY_JWT or idp.private_key_encrypted:
        return
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    idp.private_key_encrypted = crypto.encrypt(pem, aad=idp.private_key_aad)
    idp.private_key_id = secrets.token_urlsafe(12)


def client_secret_of(idp: IdentityProvider) -> str | None:
    if not idp.client_secret_encrypted:
        return None
    return crypto.decrypt(idp.client_secret_encrypted, aad=idp.client_secret_aad).decode()


def private_key_of(idp: IdentityProvider) -> bytes | None:
    if not idp.private_key_encrypted:
        return None
    return crypto.decrypt(idp.private_key_encrypted, aad=idp.private_key_aad)


@transaction.atomic
def identity_provider_create(*, tenant, name: str, slug: str, actor, request=None, preset: str = Preset.GENERIC,
                             address: str = "", client_secret: str = "", **fields) -> IdentityProvider:
    """Creates a provider; a preset and the provider's address fill what the fields leave out."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise _invalid(f"unknown field {', '.join(sorted(unknown))}", sorted(unknown)[0])
    if preset not in Preset.values:
        raise _invalid(f"unknown preset '{preset}'; use one of {', '.join(Preset.values)}", "preset")
    values = preset_settings(preset, address) if (address or preset != Preset.GENERIC) else {}
    values.update({k: v for k, v in fields.items() if v not in (None, "")})
    idp = IdentityProvider(tenant=tenant, name=name, slug=(slug or "").strip().lower(), preset=preset,
                           **_normalise(values))
    if IdentityProvider.objects.for_tenant(tenant).filter(slug=idp.slug).exists():
        raise IdentityServiceError(f"an identity provider '{idp.slug}' already exists here", code="duplicate",
                                   field="slug")
    _validate(idp, client_secret)
    _store_secret(idp, client_secret)
    _ensure_key(idp)
    idp.save()
    audit.record(tenant, actor, "sso.provider_created", idp, request, slug=idp.slug, preset=preset,
                 issuer=idp.issuer, client_auth_method=idp.client_auth_method, domains=idp.domains,
                 sso_required=idp.sso_required)
    return idp


@transaction.atomic
def identity_provider_update(*, identity_provider: IdentityProvider, actor, request=None,
                             client_secret: str | None = None, **changes) -> IdentityProvider:
    idp = IdentityProvider.objects.for_tenant(identity_provider.tenant).select_for_update().get(
        pk=identity_provider.pk)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise _invalid(f"cannot change {', '.join(sorted(unknown))}", sorted(unknown)[0])
    changed = []
    for field, value in _normalise(dict(changes)).items():
        if getattr(idp, field) != value:
            setattr(idp, field, value)
            changed.append(field)
    if client_secret:
        changed.append("client_secret")
    if not changed:
        return idp
    _validate(idp, client_secret)
    _store_secret(idp, client_secret)
    _ensure_key(idp)
    idp.save()
    # Which fields changed, never their secret values.
    audit.record(idp.tenant, actor, "sso.provider_updated", idp, request, changed=changed)
    if "enabled" in changed:
        audit.record(idp.tenant, actor, "sso.provider_enabled" if idp.enabled else "sso.provider_disabled", idp,
                     request)
    return idp


def identity_provider_set_enabled(*, identity_provider, enabled: bool, actor, request=None):
    return identity_provider_update(identity_provider=identity_provider, enabled=enabled, actor=actor,
                                    request=request)


def identity_provider_public_jwks(idp: IdentityProvider) -> dict:
    """The public half of the provider's private_key_jwt key, for the provider to fetch."""
    pem = private_key_of(idp)
    if pem is None:
        return {"keys": []}
    import json

    from jwt.algorithms import RSAAlgorithm

    public = serialization.load_pem_private_key(pem, password=None).public_key()
    jwk = json.loads(RSAAlgorithm.to_jwk(public))
    jwk.update(kid=idp.private_key_id, use="sig", alg="RS256")
    return {"keys": [jwk]}


@transaction.atomic
def identity_provider_record_test(*, identity_provider, actor, request=None, result: dict) -> IdentityProvider:
    """Stores what "test connection" or a test sign-in found (endpoints, mapped claims, errors)."""
    idp = IdentityProvider.objects.for_tenant(identity_provider.tenant).select_for_update().get(
        pk=identity_provider.pk)
    idp.last_test = {**idp.last_test, **result, "at": timezone.now().isoformat()}
    idp.save(update_fields=["last_test", "updated_at"])
    audit.record(idp.tenant, actor, "sso.provider_tested", idp, request, ok=result.get("ok"),
                 kind=result.get("kind"), error=result.get("error", ""))
    return idp


def identity_provider_test_connection(*, identity_provider, actor, request=None) -> IdentityProvider:
    """Fetches discovery and keys afresh and records what was found (or what went wrong)."""
    from .sso import oidc

    idp = identity_provider
    try:
        metadata = oidc.discover(idp, fresh=True)
        keys = oidc.refresh_jwks(metadata["jwks_uri"])
    except SSOError as error:
        result = {"kind": "connection", "ok": False, "error": str(error), "reason": error.reason}
    else:
        names = ("issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                 "end_session_endpoint")
        result = {"kind": "connection", "ok": True, "error": "",
                  "endpoints": {n: metadata[n] for n in names if metadata.get(n)},
                  "signing_keys": [k.get("kid", "") for k in keys if isinstance(k, dict)],
                  "backchannel_logout_supported": bool(metadata.get("backchannel_logout_supported")),
                  "iss_parameter_supported": bool(metadata.get("authorization_response_iss_parameter_supported")),
                  "auth_methods": metadata.get("token_endpoint_auth_methods_supported", [])}
    return identity_provider_record_test(identity_provider=idp, actor=actor, request=request, result=result)


# --- Sign-in through a provider -------------------------------------------------------------------------

def role_for_groups(idp: IdentityProvider, groups: list[str]) -> str:
    """The highest role any of the user's groups maps to; the default role when none does."""
    mapped = [idp.group_roles[g] for g in groups if g in idp.group_roles]
    return max(mapped, key=lambda r: ROLE_RANK[r]) if mapped else idp.default_role


def _refuse(reason: str, message: str) -> SSOError:
    return SSOError(reason, message)


def _check_domain(idp: IdentityProvider, email: str) -> None:
    if not email and idp.domains:
        raise _refuse("missing_email", "did not send an e-mail address, so its domain cannot be checked")
    if idp.domains and not idp.owns_domain(email.rsplit("@", 1)[-1]):
        raise _refuse("domain_not_allowed", f"signed in {email}, which is outside the domains allowed here "
                      f"({', '.join(idp.domains)})")


def _domain_verifier(email: str):
    """The id of the tenant that verified the address's domain, or None."""
    domain = email.rsplit("@", 1)[-1].lower()
    return VerifiedEmailDomain.objects.unscoped().filter(domain=domain).values_list("tenant_id", flat=True).first()


def _account_for_new_identity(idp: IdentityProvider, claims: MappedClaims):
    """The existing account a new identity may join, or None for a new account; refuses unsafe links.

    Who may create or claim an account for an address (identity.models.VerifiedEmailDomain): the tenant
    that verified the address's domain may, always; another tenant's provider may neither create one nor
    link one for a domain someone else verified; for unverified domains, a new account yes, an account
    that is a member elsewhere no. Refusals never say whether or where the account exists."""
    if not claims.email:
        raise _refuse("missing_email", "did not send an e-mail address, so no account can be found or created")
    User = get_user_model()
    user = User.objects.filter(email__iexact=claims.email).first()
    if not claims.email_verified:
        if user is not None:
            raise _refuse("unverified_email_matches_account",
                          f"did not vouch for {claims.email} (email_verified is not true), and an account with "
                          "that address exists: it is not linked on an unverified claim")
        raise _refuse("email_unverified", f"did not vouch for {claims.email} (email_verified is not true)")
    verifier = _domain_verifier(claims.email)
    if verifier is not None and verifier != idp.tenant_id:
        raise _refuse("account_not_linkable", f"asserted {claims.email}, an address this provider cannot sign in "
                      "automatically; ask your administrator")
    if user is None or verifier == idp.tenant_id:
        return user  # a new account, or the verified domain's own people
    # For a domain nobody verified, a provider may vouch only for accounts that live at this tenant: linking
    # a member of another tenant would hand this tenant's IdP admin that person's account.
    elsewhere = Membership.objects.unscoped().filter(user=user).exclude(tenant=idp.tenant).exists()
    if elsewhere:
        raise _refuse("account_not_linkable", f"asserted {claims.email}, an address this provider cannot sign in "
                      "automatically; ask your administrator")
    return user


@transaction.atomic
def email_domain_verify(*, tenant, domain: str, actor, request=None) -> VerifiedEmailDomain:
    """The operator vouches that ``tenant`` controls ``domain`` (after checking DNS or a contract): from now
    on only this tenant's providers create or claim accounts for its addresses."""
    domain = (domain or "").strip().lower().rstrip(".")
    if not re.fullmatch(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", domain):
        raise _invalid(f"'{domain[:100]}' is not a domain name", "domain")
    existing = VerifiedEmailDomain.objects.unscoped().select_for_update().filter(domain=domain).first()
    if existing is not None:
        if existing.tenant_id != tenant.pk:
            raise _invalid(f"{domain} is verified for another tenant; remove it there first", "domain")
        return existing
    verified = VerifiedEmailDomain.objects.create(tenant=tenant, domain=domain,
                                                  verified_by=getattr(actor, "label", "") or str(actor)[:255])
    audit.record(tenant, actor, "sso.email_domain_verified", verified, request, domain=domain)
    return verified


@transaction.atomic
def email_domain_remove(*, tenant, domain: str, actor, request=None) -> bool:
    found = VerifiedEmailDomain.objects.for_tenant(tenant).filter(domain=(domain or "").strip().lower()).first()
    if found is None:
        return False
    audit.record(tenant, actor, "sso.email_domain_removed", found, request, domain=found.domain)
    found.delete()
    return True


@transaction.atomic
def federated_sign_in(*, identity_provider: IdentityProvider, claims: MappedClaims, request=None):
    """The user this provider's assertion signs in at its tenant: found, linked or provisioned.

    The same (provider, subject) is always the same user. A new identity joins an existing account only
    on a verified e-mail. Group mapping is re-applied at every sign-in, so a lost group loses its role.
    """
    idp, tenant = identity_provider, identity_provider.tenant
    if not idp.enabled:
        raise _refuse("idp_disabled", f"{idp.name} is turned off for {tenant.label}")
    identity = (FederatedIdentity.objects.for_tenant(tenant).select_for_update().select_related("user")
                .filter(identity_provider=idp, subject=claims.subject).first())
    _check_domain(idp, claims.email or (identity.email if identity else ""))
    actor = provider_actor(idp)
    user = identity.user if identity else _account_for_new_identity(idp, claims)
    if user is not None and not user.is_active:
        raise _refuse("account_disabled", f"signed in {user.email}, whose account here is disabled")
    if user is not None and user.is_staff:  # also an identity linked before the account became an operator
        raise _refuse("account_not_linkable", f"asserted {user.email}, a platform operator account, which "
                      "never signs in through a tenant's provider")
    membership = Membership.objects.for_tenant(tenant).filter(user=user).first() if user else None
    role = role_for_groups(idp, claims.groups)
    provisioned = False
    if membership is None:
        if not idp.jit_provisioning:
            raise _refuse("not_provisioned", f"signed in {claims.email or claims.subject}, who is not a member of "
                          f"{tenant.label} (automatic provisioning is off)")
        try:
            membership = membership_add(tenant=tenant, email=user.email if user else claims.email, role=role,
                                        actor=actor, request=request)
        except ApplicationError as exc:
            raise _refuse("provisioning_failed", f"signed in {claims.email}, who could not be added: {exc}") from exc
        user, provisioned = membership.user, True
        if claims.name and not user.name:
            user.name = claims.name
            user.save(update_fields=["name"])
        audit.record(tenant, actor, "sso.user_provisioned", user, request, identity_provider=idp.slug,
                     role=role, groups=claims.groups)
    elif idp.group_roles and membership.role != role and membership.role != Role.OWNER:
        # Roles follow the groups only where the admin mapped groups; owners are managed by hand.
        old = membership.role
        membership_change_role(membership=membership, role=role, actor=actor, request=request)
        audit.record(tenant, actor, "sso.role_mapped", membership, request, email=user.email, old_role=old,
                     role=role, groups=claims.groups)
    now = timezone.now()
    if identity is None:
        try:
            with transaction.atomic():
                identity = FederatedIdentity.objects.create(
                    tenant=tenant, identity_provider=idp, subject=claims.subject, user=user, email=claims.email,
                    groups=claims.groups, last_sign_in_at=now)
        except IntegrityError as exc:  # the same subject signing in twice at once
            raise _refuse("concurrent_sign_in", "is signing this person in twice at once; try again") from exc
        audit.record(tenant, actor, "sso.identity_linked", identity, request, email=user.email,
                     subject=claims.subject, new_account=provisioned)
    else:
        identity.email, identity.groups, identity.last_sign_in_at = claims.email or identity.email, claims.groups, now
        identity.save(update_fields=["email", "groups", "last_sign_in_at"])
    audit.record(tenant, user, "sso.signin_succeeded", user, request, identity_provider=idp.slug,
                 subject=claims.subject, role=membership.role)
    return user, identity


def federated_sign_in_failed(*, tenant, identity_provider, error: SSOError, request=None,
                             action: str = "sso.signin_failed") -> None:
    # Anyone can start a sign-in or post a logout token: aggregated per address, reason and minute
    # (audit/failures.py), so the chain records every kind of failure without being floodable.
    address = (request.META.get("REMOTE_ADDR") if request is not None else "") or "unknown"
    audit.failure(tenant, action, source=f"{address} {error.reason}", actor=Actor("anonymous", "", ""),
                  target=identity_provider, request=request, reason=error.reason, message=str(error)[:500],
                  identity_provider=getattr(identity_provider, "slug", ""))


@transaction.atomic
def federated_session_record(*, identity: FederatedIdentity, session_key: str, sid: str) -> None:
    """Remembers which platform session this sign-in opened; forgets this person's sessions that expired."""
    store = _session_store()()
    stale = [row.pk for row in FederatedSession.objects.for_tenant(identity.tenant).filter(identity=identity)
             if not store.exists(row.session_key)]
    FederatedSession.objects.for_tenant(identity.tenant).filter(pk__in=stale).delete()
    FederatedSession.objects.create(tenant=identity.tenant, identity=identity, session_key=session_key, sid=sid)


def _session_store():
    return import_module(settings.SESSION_ENGINE).SessionStore


def sessions_end(*, actor, reason: str, tenant=None, user=None) -> int:
    """Ends the platform sessions opened through a provider of ``tenant`` (all tenants when None), of
    ``user`` only when given; returns how many. A password session is platform-wide and checked again on
    every request (membership, ``is_active``), so only these bound sessions need ending here."""
    rows = FederatedSession.objects.unscoped() if tenant is None else FederatedSession.objects.for_tenant(tenant)
    if user is not None:
        rows = rows.filter(identity__user=user)
    rows = list(rows)
    store = _session_store()
    for row in rows:
        store(session_key=row.session_key).delete()
    FederatedSession.objects.unscoped().filter(pk__in=[row.pk for row in rows]).delete()
    if rows:
        audit.record(tenant, actor, "sessions.ended", user, reason=reason, sessions_ended=len(rows),
                     email=getattr(user, "email", ""))
    return len(rows)


@transaction.atomic
def account_deactivated(*, user, actor) -> dict:
    """A deactivated account keeps nothing: its bound sessions end and, at every tenant where it holds
    anything, its tokens, codes and consents (oauth.grants.services.user_access_end records each tenant's event).
    Its password sessions stop authenticating at once (the auth backend refuses inactive users)."""
    from oauth.grants.services import user_access_end  # identity -> oauth: token revocation lives there
    from oauth.models import AccessToken, Consent, RefreshToken
    from tenants.models import Tenant

    tenant_ids = (set(Membership.objects.unscoped().filter(user=user).values_list("tenant_id", flat=True))
                  | set(RefreshToken.objects.unscoped().filter(user=user, revoked__isnull=True)
                        .values_list("tenant_id", flat=True))
                  | set(AccessToken.objects.unscoped().filter(user=user).values_list("tenant_id", flat=True))
                  | set(Consent.objects.unscoped().filter(user=user).values_list("tenant_id", flat=True)))
    ended = sessions_end(actor=actor, reason="account_deactivated", user=user)
    for tenant in Tenant.objects.filter(pk__in=tenant_ids):
        user_access_end(tenant=tenant, user=user, actor=actor, reason="account_deactivated")
    audit.record(None, actor, "account.deactivated", user, email=user.email, sessions_ended=ended,
                 tenants=len(tenant_ids))
    return {"sessions_ended": ended, "tenants": len(tenant_ids)}


@transaction.atomic
def backchannel_logout(*, identity_provider: IdentityProvider, claims: dict, request=None) -> dict:
    """Ends the platform sessions this provider's logout token names and revokes the users' tokens here."""
    from oauth.grants.services import tokens_revoke_for  # identity -> oauth: token revocation lives there

    idp, tenant = identity_provider, identity_provider.tenant
    expires = datetime.fromtimestamp(int(claims.get("exp") or claims["iat"] + 3600), tz=UTC)
    try:
        with transaction.atomic():
            LogoutTokenUse.objects.create(tenant=tenant, identity_provider=idp, jti=str(claims["jti"])[:255],
                                          expires_at=max(expires, timezone.now() + timedelta(hours=1)))
    except IntegrityError as exc:
        raise SSOError("logout_token.replayed", "sent a logout token that was already used (jti replay)") from exc
    sessions = FederatedSession.objects.for_tenant(tenant).filter(identity__identity_provider=idp)
    identities = FederatedIdentity.objects.for_tenant(tenant).filter(identity_provider=idp)
    if claims.get("sub"):
        identities = identities.filter(subject=claims["sub"])
        sessions = sessions.filter(identity__in=identities)
    if claims.get("sid"):
        sessions = sessions.filter(sid=claims["sid"])
    sessions = list(sessions.select_related("identity__user"))
    users = {s.identity.user for s in sessions} | ({i.user for i in identities.select_related("user")}
                                                     if claims.get("sub") else set())
    store = _session_store()
    for session in sessions:
        store(session_key=session.session_key).delete()
    FederatedSession.objects.for_tenant(tenant).filter(pk__in=[s.pk for s in sessions]).delete()
    actor = provider_actor(idp)
    revoked = sum(tokens_revoke_for(tenant=tenant, user=user, actor=actor, request=request) for user in users)
    audit.record(tenant, actor, "sso.backchannel_logout", idp, request,
                 subject=claims.get("sub", ""), sid=claims.get("sid", ""), sessions_ended=len(sessions),
                 users=sorted(u.email for u in users), tokens_revoked=revoked)
    LogoutTokenUse.objects.for_tenant(tenant).filter(expires_at__lt=timezone.now()).delete()
    return {"sessions_ended": len(sessions), "users": len(users), "tokens_revoked": revoked}


@transaction.atomic
def federated_identity_unlink(*, identity: FederatedIdentity, actor, request=None) -> None:
    """The next sign-in with this subject is treated as new (and must pass the linking rules again)."""
    audit.record(identity.tenant, actor, "sso.identity_unlinked", identity, request, email=identity.user.email,
                 subject=identity.subject, identity_provider=identity.identity_provider.slug)
    FederatedSession.objects.for_tenant(identity.tenant).filter(identity=identity).delete()
    identity.delete()
