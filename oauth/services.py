"""Every write of the authorization server: clients, consent, tokens, signing keys, tenant settings.

Each service audits in the same transaction. Token revocation is set-based (a constant number of
statements however many tokens match).
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

import audit
from audit.services import Actor
from kit import crypto
from kit.errors import ApplicationError
from mcp_registry.models import MCPResource
from mcp_registry.uris import is_loopback_host
from tenants.authority import Authority
from tenants.models import Role, Tenant

from . import keys
from .models import (
    ADMIN_SCOPES,
    GRANT_TYPES,
    AccessToken,
    Application,
    AuthMethod,
    ClientStatus,
    Consent,
    Grant,
    KeyState,
    RefreshToken,
    SigningKey,
    TenantAuthSettings,
)
from .selectors import grants_for_resource


class OAuthServiceError(ApplicationError):
    """A client, token or key change was refused; the message says what to do instead."""


def checksum(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# --- clients --------------------------------------------------------------------------------------

_CONTROL_OR_SURROGATE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
# Schemes a redirect must never use: they run script, read local files or hand the code to a system handler.
DANGEROUS_SCHEMES = frozenset({"javascript", "vbscript", "data", "file", "blob", "filesystem", "about",
                               "view-source", "jar", "ws", "wss", "ftp", "mailto", "tel", "sms", "livescript",
                               "mocha", "intent", "resource", "chrome", "res", "shell", "mhtml"})
DANGEROUS_SCHEME_PREFIXES = ("ms-", "search-ms", "x-javascript")
PRIVATE_USE_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{2,63}")


def _check_redirect_uri(uri: str) -> str:
    uri = (uri or "").strip()
    if _CONTROL_OR_SURROGATE.search(uri):  # not echoed: a lone surrogate cannot even be encoded in the answer
        raise OAuthServiceError("a redirect URI must not contain control characters or unpaired surrogates",
                                field="redirect_uris")
    parts = urlsplit(uri)
    if not parts.scheme or "#" in uri or "@" in parts.netloc or any(c.isspace() for c in uri):
        raise OAuthServiceError(f"redirect URI '{uri[:200]}' must be absolute, without fragment, credentials "
                                "or spaces", field="redirect_uris")
    if parts.scheme == "https" and parts.hostname:
        return uri
    if parts.scheme == "http" and parts.hostname and is_loopback_host(parts.hostname):
        return uri  # RFC 8252 §7.3: native apps on an ephemeral loopback port
    scheme = parts.scheme.lower()
    if scheme in DANGEROUS_SCHEMES or scheme.startswith(DANGEROUS_SCHEME_PREFIXES):
        raise OAuthServiceError(f"redirect URI '{uri[:200]}' uses the '{scheme}:' scheme, which runs or reads "
                                "something in the browser or on the device instead of returning to an app",
                                field="redirect_uris")
    if scheme not in ("http", "https") and PRIVATE_USE_SCHEME.fullmatch(scheme):
        # RFC 8252 §7.1: a native app's private-use scheme, reverse-domain (com.example.app:/cb) as the RFC
        # recommends, or a product name as real clients register them (cursor://anysphere.cursor-mcp/...).
        return uri
    raise OAuthServiceError(f"redirect URI '{uri[:200]}' must use https (http only for 127.0.0.1, [::1] or "
                            "localhost, or a native app's private-use scheme)", field="redirect_uris")


def _resources_of(tenant, allowed_resources) -> list[MCPResource]:
    found = []
    for item in allowed_resources or []:
        if isinstance(item, MCPResource):
            if item.tenant_id != tenant.pk:
                raise OAuthServiceError(f"resource '{item.uri}' belongs to another tenant", field="allowed_resources")
            found.append(item)
            continue
        resource = MCPResource.objects.for_tenant(tenant).filter(Q(uri=str(item)) | Q(name=str(item))).first()
        if resource is None:
            raise OAuthServiceError(f"resource '{item}' is not registered for tenant '{tenant.slug}'",
                                    field="allowed_resources")
        found.append(resource)
    return found


def _check_client_shape(*, client_type, grant_types, redirect_uris, auth_method, scopes, jwks, jwks_uri):
    if client_type not in (Application.CLIENT_PUBLIC, Application.CLIENT_CONFIDENTIAL):
        raise OAuthServiceError("client_type must be 'public' or 'confidential'", field="client_type")
    unknown = set(grant_types) - set(GRANT_TYPES)
    if unknown or not grant_types:
        raise OAuthServiceError(f"grant types must be among {', '.join(GRANT_TYPES)} (implicit and password do "
                                "not exist here)", field="grant_types")
    if "client_credentials" in grant_types and client_type != Application.CLIENT_CONFIDENTIAL:
        raise OAuthServiceError("client_credentials needs a confidential client", field="grant_types")
    if "refresh_token" in grant_types and "authorization_code" not in grant_types:
        raise OAuthServiceError("refresh_token comes with authorization_code", field="grant_types")
    if "authorization_code" in grant_types and not redirect_uris:
        raise OAuthServiceError("authorization_code needs at least one redirect URI", field="redirect_uris")
    if (auth_method == AuthMethod.NONE) != (client_type == Application.CLIENT_PUBLIC):
        raise OAuthServiceError("public clients authenticate with 'none' (PKCE), confidential ones with a "
                                "secret or private_key_jwt", field="token_endpoint_auth_method")
    if auth_method == AuthMethod.PRIVATE_KEY_JWT and not (jwks or jwks_uri):
        raise OAuthServiceError("private_key_jwt needs the client's public keys (jwks or jwks_uri)", field="jwks")
    if jwks is not None and not (isinstance(jwks, dict) and isinstance(jwks.get("keys"), list)):
        raise OAuthServiceError("jwks must be a JWK Set: {\"keys\": [...]}", field="jwks")
    admin = [s for s in scopes if s.startswith("admin:")]
    if any(s not in ADMIN_SCOPES for s in admin):
        raise OAuthServiceError(f"unknown admin scope; use some of {', '.join(ADMIN_SCOPES)}", field="scopes")
    if admin and "client_credentials" not in grant_types:
        raise OAuthServiceError("admin scopes are for client_credentials clients only", field="scopes")


def _forbidden(message: str, field: str | None = None) -> OAuthServiceError:
    return OAuthServiceError(message, code="forbidden", field=field)


def _check_grantable(authority: Authority | None, scopes) -> None:
    """A management token hands out only admin scopes it holds itself."""
    if authority is None:
        return
    missing = sorted(s for s in scopes if s in ADMIN_SCOPES and not authority.holds(s))
    if missing:
        raise _forbidden(f"this token cannot grant {', '.join(missing)}: a management client grants only "
                         "admin scopes its own token holds", field="scopes")


def check_may_manage(authority: Authority | None, client: Application) -> None:
    """Whether ``authority`` may change, rotate, suspend or delete ``client``: never a management client
    its own registration, never one created with a higher role, never (as a token) one holding admin
    scopes the token does not: else a token could widen itself or take over a stronger client's secret."""
    if authority is None:
        return
    if authority.client_pk is not None and authority.client_pk == client.pk:
        raise _forbidden("a management client cannot change its own registration; ask a person or another "
                         "client with at least its authority")
    if authority.outranked_by(client.creator_role):
        raise _forbidden(f"this client was created with the {client.creator_role} role; only someone with that "
                         "role can change it")
    if authority.is_token:
        stronger = sorted(s for s in client.allowed_scopes.split() if s in ADMIN_SCOPES and not authority.holds(s))
        if stronger:
            raise _forbidden(f"this client holds admin scopes your token does not ({', '.join(stronger)})")


def _creator_role(authority: Authority | None) -> str:
    """The role a new client's tokens act with at most: its creator's; admin for the platform itself."""
    return Role.ADMIN if authority is None else authority.role


@transaction.atomic
def client_create(*, tenant, name: str, client_type: str, redirect_uris=(), grant_types=None,
                  allowed_resources=(), scopes=(), actor, request=None, authority: Authority | None = None,
                  token_endpoint_auth_method: str | None = None, jwks=None, jwks_uri: str = "",
                  status: str = ClientStatus.APPROVED, registration_source: str = "manual",
                  verified: bool = False, client_id: str | None = None, cimd_url: str = "",
                  token_endpoint_auth_methods=()) -> tuple[Application, str | None]:
    """Creates a client. Returns (client, plaintext secret or None): the secret is shown once."""
    name = (name or "").strip()
    if not name:
        raise OAuthServiceError("give the client a name people will recognise on the consent page", field="name")
    grant_types = list(grant_types or (["client_credentials"] if client_type == Application.CLIENT_CONFIDENTIAL
                                       and not redirect_uris else ["authorization_code", "refresh_token"]))
    redirect_uris = [_check_redirect_uri(u) for u in (redirect_uris or [])]
    auth_method = token_endpoint_auth_method or (
        AuthMethod.NONE if client_type == Application.CLIENT_PUBLIC
        else AuthMethod.PRIVATE_KEY_JWT if jwks or jwks_uri else AuthMethod.SECRET_BASIC)
    scopes = list(dict.fromkeys(scopes or ()))
    _check_client_shape(client_type=client_type, grant_types=grant_types, redirect_uris=redirect_uris,
                        auth_method=auth_method, scopes=scopes, jwks=jwks, jwks_uri=jwks_uri)
    _check_grantable(authority, scopes)
    resources = _resources_of(tenant, allowed_resources)
    secret = None
    if auth_method in (AuthMethod.SECRET_BASIC, AuthMethod.SECRET_POST):
        secret = crypto.generate_secret()
    client = Application(
        tenant=tenant, name=name[:255], client_type=client_type,
        authorization_grant_type=(Application.GRANT_AUTHORIZATION_CODE if "authorization_code" in grant_types
                                  else Application.GRANT_CLIENT_CREDENTIALS),
        grant_types=" ".join(grant_types), redirect_uris=" ".join(redirect_uris),
        client_secret=crypto.secret_digest(secret) if secret else "",
        token_endpoint_auth_method=auth_method, allowed_scopes=" ".join(scopes), jwks=jwks, jwks_uri=jwks_uri,
        status=status, registration_source=registration_source, verified=verified,
        creator_role=_creator_role(authority), cimd_url=cimd_url,
        token_endpoint_auth_methods=" ".join(m for m in token_endpoint_auth_methods if m != auth_method))
    if client_id:
        client.client_id = client_id
    client.save()
    client.allowed_resources.set(resources)
    audit.record(tenant, actor, "client.created", client, request, client_id=client.public_client_id,
                 client_type=client_type, grant_types=grant_types, resources=[r.uri for r in resources],
                 scopes=scopes, status=status, creator_role=client.creator_role)
    return client, secret


UPDATABLE_CLIENT_FIELDS = {"name", "redirect_uris", "grant_types", "allowed_resources", "scopes", "jwks",
                           "jwks_uri", "verified", "client_uri", "logo_uri", "token_endpoint_auth_methods"}


@transaction.atomic
def client_update(*, client: Application, actor, request=None, authority: Authority | None = None,
                  **changes) -> Application:
    unknown = set(changes) - UPDATABLE_CLIENT_FIELDS
    if unknown:
        raise OAuthServiceError(f"cannot change {', '.join(sorted(unknown))} of a client")
    check_may_manage(authority, client)
    if "scopes" in changes:
        _check_grantable(authority, changes["scopes"] or [])
    changed = []
    if "name" in changes:
        name = (changes["name"] or "").strip()
        if not name:
            raise OAuthServiceError("a client needs a name", field="name")
        client.name = name[:255]
        changed.append("name")
    if "redirect_uris" in changes:
        client.redirect_uris = " ".join(_check_redirect_uri(u) for u in changes["redirect_uris"] or [])
        changed.append("redirect_uris")
    if "grant_types" in changes:
        client.grant_types = " ".join(changes["grant_types"] or [])
        changed.append("grant_types")
    if "scopes" in changes:
        client.allowed_scopes = " ".join(dict.fromkeys(changes["scopes"] or []))
        changed.append("scopes")
    for field in ("jwks", "jwks_uri", "verified", "client_uri", "logo_uri"):
        if field in changes:
            setattr(client, field, changes[field])
            changed.append(field)
    if "token_endpoint_auth_methods" in changes:  # the client type's own method stays; others come and go
        client.token_endpoint_auth_methods = " ".join(
            m for m in changes["token_endpoint_auth_methods"] or [] if m != client.token_endpoint_auth_method)
        changed.append("token_endpoint_auth_methods")
    _check_client_shape(client_type=client.client_type, grant_types=client.grant_type_list,
                        redirect_uris=client.redirect_uris.split(), auth_method=client.token_endpoint_auth_method,
                        scopes=client.allowed_scopes.split(), jwks=client.jwks, jwks_uri=client.jwks_uri)
    client.save()
    if "allowed_resources" in changes:
        resources = _resources_of(client.tenant, changes["allowed_resources"])
        removed = set(client.allowed_resources.values_list("uri", flat=True)) - {r.uri for r in resources}
        client.allowed_resources.set(resources)
        changed.append("allowed_resources")
        for uri in removed:  # tokens for a resource the client may no longer reach stop working now
            _revoke(tenant=client.tenant, client=client, audience=uri)
    audit.record(client.tenant, actor, "client.updated", client, request, changed=changed)
    return client


@transaction.atomic
def client_rotate_secret(*, client: Application, actor, request=None, authority: Authority | None = None) -> str:
    check_may_manage(authority, client)
    if client.token_endpoint_auth_method not in (AuthMethod.SECRET_BASIC, AuthMethod.SECRET_POST):
        raise OAuthServiceError("this client does not authenticate with a secret", field="client_secret")
    secret = crypto.generate_secret()
    client.client_secret = crypto.secret_digest(secret)
    client.save(update_fields=["client_secret", "hash_client_secret", "updated"])
    audit.record(client.tenant, actor, "client.secret_rotated", client, request)
    return secret


@transaction.atomic
def client_set_status(*, client: Application, status: str, actor, request=None, reason: str = "",
                      authority: Authority | None = None) -> Application:
    check_may_manage(authority, client)
    if status not in ClientStatus.values:
        raise OAuthServiceError(f"unknown client status '{status}'", field="status")
    if client.status == status:
        return client
    old, client.status = client.status, status
    client.save(update_fields=["status", "updated"])
    revoked = 0
    if status != ClientStatus.APPROVED:
        revoked = _revoke(tenant=client.tenant, client=client)
    audit.record(client.tenant, actor, f"client.{status}", client, request,
                 previous=old, reason=reason[:300], tokens_revoked=revoked)
    return client


def client_suspend(*, client: Application, actor, request=None, reason: str = "",
                   authority: Authority | None = None) -> Application:
    """Suspends the client and revokes every token it holds (set-based, in the same transaction)."""
    return client_set_status(client=client, status=ClientStatus.SUSPENDED, actor=actor, request=request,
                             reason=reason, authority=authority)


def client_reactivate(*, client: Application, actor, request=None, authority: Authority | None = None) -> Application:
    return client_set_status(client=client, status=ClientStatus.APPROVED, actor=actor, request=request,
                             authority=authority)


@transaction.atomic
def client_delete(*, client: Application, actor, request=None, authority: Authority | None = None) -> None:
    check_may_manage(authority, client)
    audit.record(client.tenant, actor, "client.deleted", client, request, client_id=client.public_client_id,
                 name=client.name)
    client.delete()  # grants, tokens and consents cascade


# --- tokens ---------------------------------------------------------------------------------------

def _revoke(*, tenant, client=None, user=None, audience: str | None = None) -> int:
    """Revokes matching refresh tokens and deletes matching access tokens; returns how many of each."""
    access = AccessToken.objects.for_tenant(tenant)
    refresh = RefreshToken.objects.for_tenant(tenant).filter(revoked__isnull=True)
    grants = Grant.objects.for_tenant(tenant)
    for field, value in (("application", client), ("user", user)):
        if value is not None:
            access, refresh, grants = (qs.filter(**{field: value}) for qs in (access, refresh, grants))
    if audience is not None:
        access, refresh = access.filter(audience=audience), refresh.filter(audience=audience)
        grants = grants_for_resource(grants, audience)
    now = timezone.now()
    refreshed = refresh.update(revoked=now, updated=now, access_token=None)
    deleted, _ = access.delete()
    grants.delete()
    return refreshed + deleted


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
    count = _revoke(tenant=tenant, client=client, user=user, audience=audience)
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
    (oauth.targets.CHOSEN_BY); a refresh without ``resource`` repeats how its authorization chose it."""
    audit.record(client.tenant, client, "token.issued", client, request, grant_type=grant_type,
                 audience=audience, scope=scope, user=str(user.pk) if user else None,
                 resource_chosen_by=resource_chosen_by, resource_by_default=resource_chosen_by != "request")


@transaction.atomic
def user_access_end(*, tenant, user, actor, reason: str, request=None) -> dict:
    """Everything a person holds at a tenant ends now: access and refresh tokens, pending codes and
    consents. Called when they are removed from the tenant or their account is deactivated (receivers)."""
    revoked = _revoke(tenant=tenant, user=user)
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
    revoked = _revoke(tenant=tenant, client=consent.application, user=consent.user,
                      audience=consent.audience or None)
    audit.record(tenant, actor, "consent.revoked", consent, request, client_id=consent.application.public_client_id,
                 audience=consent.audience, tokens_revoked=revoked)
    consent.delete()
    return revoked


# --- signing keys ---------------------------------------------------------------------------------

def _key_create(*, tenant, alg: str, state: str) -> SigningKey:
    kid, private, public = keys.generate(alg)
    now = timezone.now()
    return SigningKey.objects.create(tenant=tenant, kid=kid, alg=alg, state=state, private_key=private,
                                     public_jwk=public, activated_at=now if state == KeyState.ACTIVE else None)


@transaction.atomic
def signing_key_create(*, tenant, actor, alg: str | None = None, state: str = KeyState.NEXT,
                       request=None) -> SigningKey:
    alg = alg or tenant_auth_settings(tenant).signing_alg
    if state == KeyState.ACTIVE and SigningKey.objects.for_tenant(tenant).filter(state=KeyState.ACTIVE).exists():
        raise OAuthServiceError("the tenant already has an active key: rotate instead")
    key = _key_create(tenant=tenant, alg=alg, state=state)
    audit.record(tenant, actor, "key.created", key, request, kid=key.kid, alg=alg, state=state)
    keys.forget_active_key(tenant.pk)
    return key


@transaction.atomic
def key_rotate(*, tenant, actor, alg: str | None = None, request=None) -> SigningKey:
    """next -> active, active -> retired, and a fresh next key is published for the rotation after.

    Without a next key of the wanted algorithm one is made and activated at once; clients that cached the
    JWKS then refetch it on the unknown kid (mcp_guard does), which is why a next key is kept ready.
    """
    alg = alg or tenant_auth_settings(tenant).signing_alg
    scoped = SigningKey.objects.for_tenant(tenant).select_for_update()
    now = timezone.now()
    promoted = scoped.filter(state=KeyState.NEXT, alg=alg).order_by("created_at").first()
    if promoted is None:
        promoted = _key_create(tenant=tenant, alg=alg, state=KeyState.NEXT)
    previous = list(scoped.filter(state=KeyState.ACTIVE).values_list("kid", flat=True))
    scoped.filter(state=KeyState.ACTIVE).update(state=KeyState.RETIRED, retired_at=now)
    promoted.state, promoted.activated_at = KeyState.ACTIVE, now
    promoted.save(update_fields=["state", "activated_at"])
    if not scoped.filter(state=KeyState.NEXT).exists():
        _key_create(tenant=tenant, alg=alg, state=KeyState.NEXT)
    audit.record(tenant, actor, "key.rotated", promoted, request, kid=promoted.kid, alg=alg, retired=previous)
    keys.forget_active_key(tenant.pk)
    return promoted


@transaction.atomic
def key_remove(*, key: SigningKey, actor, request=None) -> SigningKey:
    """A retired key leaves the JWKS: tokens it signed stop verifying."""
    if key.state != KeyState.RETIRED:
        raise OAuthServiceError("only retired keys can be removed; rotate the active key first")
    key.state, key.removed_at = KeyState.REMOVED, timezone.now()
    key.save(update_fields=["state", "removed_at"])
    audit.record(key.tenant, actor, "key.removed", key, request, kid=key.kid)
    return key


# --- tenant settings ------------------------------------------------------------------------------

def tenant_auth_settings(tenant) -> TenantAuthSettings:
    found = TenantAuthSettings.objects.for_tenant(tenant).first()
    return found if found is not None else TenantAuthSettings(tenant=tenant)


@transaction.atomic
def tenant_auth_settings_update(*, tenant, actor, request=None, **changes) -> TenantAuthSettings:
    """``default_resource``: an MCPResource of the tenant, its URI, or None/"" for none (oauth/targets.py)."""
    allowed = {"access_token_lifetime", "refresh_token_lifetime", "signing_alg", "default_resource"}
    unknown = set(changes) - allowed
    if unknown:
        raise OAuthServiceError(f"cannot change {', '.join(sorted(unknown))}; settable: {', '.join(sorted(allowed))}")
    current = tenant_auth_settings(tenant)
    if "default_resource" in changes:
        changes["default_resource"] = _default_resource_of(tenant, changes["default_resource"])
    for field, value in changes.items():
        setattr(current, field, value)
    try:
        current.full_clean(exclude=["tenant"])
    except Exception as exc:  # ValidationError: report the first field's message
        field, messages = next(iter(getattr(exc, "message_dict", {"settings": [str(exc)]}).items()))
        raise OAuthServiceError(" ".join(messages), field=field) from exc
    current.save()
    from .selectors import forget_tenant_settings

    forget_tenant_settings(tenant.pk)
    if "default_resource" in changes:  # the audit event names the resource, not a row id
        changes["default_resource"] = getattr(changes["default_resource"], "uri", None)
    audit.record(tenant, actor, "oauth_settings.updated", current, request, **changes)
    return current


def _default_resource_of(tenant, value) -> MCPResource | None:
    if value in (None, ""):
        return None
    if isinstance(value, MCPResource):
        if value.tenant_id != tenant.pk:
            raise OAuthServiceError(f"resource '{value.uri}' belongs to another tenant", field="default_resource")
        resource = value
    else:
        from mcp_registry.uris import InvalidResourceURI, canonical_resource_uri

        try:
            uri = canonical_resource_uri(str(value))
        except InvalidResourceURI as exc:
            raise OAuthServiceError(f"default_resource: {exc}", field="default_resource") from exc
        resource = MCPResource.objects.for_tenant(tenant).filter(uri=uri).first()
        if resource is None:
            raise OAuthServiceError(f"no resource '{uri}' is registered for tenant '{tenant.slug}'",
                                    field="default_resource")
    if not resource.is_active:
        raise OAuthServiceError(f"resource '{resource.uri}' is disabled; enable it first", field="default_resource")
    return resource
