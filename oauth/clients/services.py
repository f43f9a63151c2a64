"""Every write to a tenant's OAuth clients: registration by an admin, updates, secrets, status, deletion.

Each service audits in the same transaction; a client's status change revokes its tokens (oauth/grants).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.db import transaction

import audit
from kit import crypto
from mcp_registry import selectors as registry
from mcp_registry.models import MCPResource
from mcp_registry.uris import is_loopback_host
from tenants.authority import Authority
from tenants.models import Role

from ..errors import OAuthServiceError
from ..grants.revocation import revoke_at_once
from ..models import ADMIN_SCOPES, GRANT_TYPES, Application, AuthMethod, ClientStatus

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
        resource = registry.resource_by_uri_or_name(tenant, str(item))
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
            revoke_at_once(tenant=client.tenant, client=client, resource=uri)
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
        revoked = revoke_at_once(tenant=client.tenant, client=client)
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
