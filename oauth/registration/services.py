"""Every write of client registration: DCR (RFC 7591) and its RFC 7592 management, CIMD clients,
the approval workflow (approve, reject, suspend, re-approve, justification), pile-up control, policy,
rules, initial access tokens and trusted publishers. Each audits in the same transaction.

The client itself is created and changed through oauth.clients.services (client_create, client_update,
client_set_status, client_delete), so a registered client is an ordinary client in every other respect."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import jwt
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

import audit
from audit.services import Actor
from kit import crypto, egress
from kit.errors import ApplicationError

from .. import errors
from ..clients import services as client_services
from ..models import AccessToken, Application, AuthMethod, ClientStatus, Consent, RefreshToken
from . import metadata as md
from .metadata import RegistrationError
from .models import (
    ApprovalRule,
    ClientRegistration,
    InitialAccessToken,
    RegistrationPolicy,
    RegistrationSource,
    RuleKind,
    TrustedPublisher,
)
from .notifications import notify_pending, recipients_of
from .policy import Arrival, Decision, decide, policy_of

STATEMENT_ALGS = ["RS256", "PS256", "ES256", "EdDSA"]
SYSTEM = Actor("job", "registration", "registration")


class RegistrationServiceError(ApplicationError):
    """An admin's change to registration settings or a decision was refused; the message says why."""


def registrant(address: str | None) -> Actor:
    """The anonymous software registering itself, as an audit actor."""
    return Actor("registrant", address or "", f"registration from {address or 'unknown address'}")


# --- arrival: initial access tokens, software statements, fingerprints ------------------------------

def initial_access_token_check(*, tenant, value: str) -> InitialAccessToken:
    """The unexpired, unrevoked, not used-up initial access token with this value, else 401 invalid_token."""
    row = (InitialAccessToken.objects.for_tenant(tenant).select_for_update()
           .filter(token_digest=crypto.secret_digest(value)).first()) if value and len(value) < 200 else None
    if row is None or row.revoked_at or row.expires_at <= timezone.now() or row.uses >= row.max_uses:
        raise RegistrationError("invalid_token", "the initial access token is unknown, expired, revoked or used "
                                "up: ask the administrator for a new one", status=401,
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return row


def software_statement_verify(*, tenant, statement) -> tuple[TrustedPublisher, dict]:
    """RFC 7591 §2.3: a JWT signed by one of the tenant's trusted publishers; returns (publisher, claims)."""
    if not isinstance(statement, str) or not statement or len(statement) > 16_000:
        raise RegistrationError("invalid_software_statement", "software_statement must be a signed JWT (a string)")
    try:
        header = jwt.get_unverified_header(statement)
        unverified = jwt.decode(statement, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise RegistrationError("invalid_software_statement", f"software_statement is not a JWT: {exc}") from exc
    issuer = unverified.get("iss")
    publisher = TrustedPublisher.objects.for_tenant(tenant).filter(issuer=issuer).first() \
        if isinstance(issuer, str) else None
    if publisher is None:
        raise RegistrationError("unapproved_software_statement",
                                f"software statements of '{str(issuer)[:100]}' are not trusted at tenant "
                                f"'{tenant.slug}': ask its administrator to add the publisher")
    try:
        keys = [k for k in jwt.PyJWKSet.from_dict(publisher.jwks).keys
                if not header.get("kid") or k.key_id == header.get("kid")]
    except jwt.PyJWTError as exc:
        raise RegistrationError("invalid_software_statement", f"the keys of publisher '{publisher.name}' are not "
                                "usable; the administrator must fix them") from exc
    for key in keys:
        try:
            claims = jwt.decode(statement, key.key, algorithms=STATEMENT_ALGS, issuer=publisher.issuer,
                                options={"verify_aud": False, "require": ["iss"]})
            return publisher, claims
        except jwt.PyJWTError:
            continue
    raise RegistrationError("invalid_software_statement", f"software_statement is not validly signed by "
                            f"'{publisher.name}' (signature, algorithm or expiry)")


def fingerprint(*, tenant, metadata: dict, requester_ip: str | None, requester=None, cimd_url: str = "") -> str:
    """Identical registrations by the same software from the same person or address share this value."""
    who = f"user:{requester.pk}" if requester is not None else f"ip:{requester_ip or ''}"
    what = {"software": metadata.get("software_id") or metadata.get("client_name", ""),
            "redirect_uris": sorted(metadata.get("redirect_uris", [])),
            "auth": metadata.get("token_endpoint_auth_method"), "cimd": cimd_url, "tenant": str(tenant.pk),
            "who": who}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def _registration_token(policy: RegistrationPolicy) -> tuple[str, str, object]:
    token = crypto.generate_secret()
    return token, crypto.secret_digest(token), timezone.now() + timedelta(days=policy.registration_token_days)


def _check_pending_cap(tenant, policy: RegistrationPolicy) -> None:
    pending = ClientRegistration.objects.for_tenant(tenant).filter(application__status=ClientStatus.PENDING).count()
    if pending >= policy.pending_cap:
        raise RegistrationError("temporarily_unavailable",
                                f"tenant '{tenant.slug}' has {pending} registrations waiting for approval, its "
                                "limit; try again after an administrator has worked through them", status=503,
                                headers={"Retry-After": "3600"})


def _client_kwargs(tenant, metadata: dict) -> dict:
    confidential = metadata["token_endpoint_auth_method"] != AuthMethod.NONE
    # No resource list: which MCP servers a self-registered client may ask for is decided on each request
    # (oauth.protocol.cache.permitted_resources), so servers added later are reachable; the user consents per server.
    return dict(name=md.display_name(metadata), client_type="confidential" if confidential else "public",
                redirect_uris=metadata["redirect_uris"], grant_types=metadata["grant_types"],
                token_endpoint_auth_method=metadata["token_endpoint_auth_method"],
                token_endpoint_auth_methods=metadata.get("token_endpoint_auth_methods", ()),
                jwks=metadata.get("jwks"), jwks_uri=metadata.get("jwks_uri", ""))


def machine_grant_checked(metadata: dict, *, explicit: bool) -> dict:
    """client_credentials gives tokens with no person behind them and no consent. A self-registered client
    gets it only through an explicit rule (``explicit``: a trusted publisher's signed statement that lists
    it, or an administrator's initial access token); otherwise it is left out of what is granted."""
    if explicit or "client_credentials" not in metadata["grant_types"]:
        return metadata
    grants = [g for g in metadata["grant_types"] if g != "client_credentials"]
    if not grants:
        raise md.invalid("client_credentials (tokens without a person) is granted to a self-registered client only "
                         "with a trusted publisher's software statement that lists it or an initial access token: "
                         "ask the tenant's administrator")
    not_granted = dict(metadata.get("not_granted") or {})
    not_granted["grant_types"] = [*not_granted.get("grant_types", []), "client_credentials"]
    return {**metadata, "grant_types": grants, "not_granted": not_granted}


def _create(*, tenant, metadata: dict, source: str, arrival: Arrival, decision, request, address, requester,
            publisher=None, iat=None, cimd: dict | None = None, client_id: str | None = None):
    actor = registrant(address)
    try:
        client, secret = client_services.client_create(tenant=tenant, actor=actor, request=request,
                                                       status=decision.status, registration_source=source,
                                                       client_id=client_id, cimd_url=arrival.cimd_url,
                                                       **_client_kwargs(tenant, metadata))
    except errors.OAuthServiceError as exc:
        raise md.invalid(str(exc)) from exc
    client_uri, logo_uri = metadata.get("client_uri", ""), metadata.get("logo_uri", "")
    if client_uri or logo_uri:
        Application.objects.for_tenant(tenant).filter(pk=client.pk).update(client_uri=client_uri, logo_uri=logo_uri)
        client.client_uri, client.logo_uri = client_uri, logo_uri
    registration = ClientRegistration(
        tenant=tenant, application=client, source=source, metadata=metadata,
        software_id=metadata.get("software_id", ""), publisher=publisher,
        fingerprint=fingerprint(tenant=tenant, metadata=metadata, requester_ip=address, requester=requester,
                                cimd_url=arrival.cimd_url),
        requester_ip=address or None, requester=requester, decision_rule=decision.rule[:300],
        initial_access_token=iat, **(cimd or {}))
    token = None
    if source == RegistrationSource.DCR:
        token, registration.registration_token_digest, registration.registration_token_expires_at = \
            _registration_token(policy_of(tenant))
    if decision.status != ClientStatus.PENDING:
        registration.decided_by, registration.decided_at = decision.rule[:300], timezone.now()
    registration.save()
    if iat is not None:
        InitialAccessToken.objects.for_tenant(tenant).filter(pk=iat.pk).update(uses=iat.uses + 1)
    audit.record(tenant, actor, "registration.received", client, request, client_id=client.public_client_id,
                 source=source, decision=decision.status, rule=decision.rule, cimd_url=arrival.cimd_url,
                 software_id=registration.software_id, publisher=publisher.name if publisher else None,
                 grant_types=metadata["grant_types"], not_granted=metadata.get("not_granted"))
    if decision.status == ClientStatus.PENDING:
        notify_pending(registration)
    return registration, secret, token


@transaction.atomic
def dcr_register(*, tenant, body, request=None, address: str | None = None, requester=None,
                 initial_access_token: str | None = None):
    """RFC 7591 §3.1. Returns (registration, client secret or None, registration access token, deduplicated).
    Raises RegistrationError with the RFC error code and a description."""
    if not isinstance(body, dict):
        raise md.invalid("the client metadata must be a JSON object")
    iat = initial_access_token_check(tenant=tenant, value=initial_access_token) \
        if initial_access_token is not None else None
    publisher, claims = None, {}
    if "software_statement" in body:
        publisher, claims = software_statement_verify(tenant=tenant, statement=body["software_statement"])
    # RFC 7591 §2.3: values in the statement win over the same values sent in plain JSON.
    metadata = md.normalise({**body, **{k: v for k, v in claims.items() if k not in ("iss", "iat", "exp", "jti")}})
    signed_grants = claims.get("grant_types") if isinstance(claims.get("grant_types"), list) else []
    metadata = machine_grant_checked(metadata, explicit=iat is not None or (
        publisher is not None and "client_credentials" in signed_grants))
    arrival = Arrival(source=RegistrationSource.DCR, redirect_uris=tuple(metadata["redirect_uris"]),
                      grant_types=tuple(metadata["grant_types"]), publisher=publisher, initial_access_token=iat)
    decision = decide(tenant, arrival)
    policy = policy_of(tenant)
    same = fingerprint(tenant=tenant, metadata=metadata, requester_ip=address, requester=requester)
    duplicate = (ClientRegistration.objects.for_tenant(tenant).select_related("application")
                 .filter(fingerprint=same, source=RegistrationSource.DCR,
                         application__status__in=[ClientStatus.PENDING, ClientStatus.APPROVED],
                         application__token_endpoint_auth_method=AuthMethod.NONE)
                 .order_by("-created_at").first()) if metadata["token_endpoint_auth_method"] == AuthMethod.NONE \
        else None
    if duplicate is not None:
        # The same public client from the same person or address again: hand back the registration it
        # already has (with a fresh registration access token) instead of piling up another client.
        token, duplicate.registration_token_digest, duplicate.registration_token_expires_at = \
            _registration_token(policy)
        duplicate.duplicate_count += 1
        duplicate.save(update_fields=["registration_token_digest", "registration_token_expires_at",
                                      "duplicate_count"])
        audit.record(tenant, registrant(address), "registration.deduplicated", duplicate.application, request,
                     client_id=duplicate.application.public_client_id, duplicates=duplicate.duplicate_count)
        return duplicate, None, token, True
    if decision.status == ClientStatus.PENDING:
        _check_pending_cap(tenant, policy)
    registration, secret, token = _create(
        tenant=tenant, metadata=metadata, source=RegistrationSource.DCR, arrival=arrival, decision=decision,
        request=request, address=address, requester=requester, publisher=publisher, iat=iat)
    return registration, secret, token, False


def registration_by_token(*, tenant, client_id: str, token: str | None) -> ClientRegistration:
    """RFC 7592 §2: the registration the bearer's registration access token manages, else 401."""
    refused = RegistrationError("invalid_token", "the registration access token is not valid for this client "
                                "(unknown, expired or for another client)", status=401,
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    if not token or len(token) > 200 or not client_id or len(client_id) > 255:
        raise refused
    registration = (ClientRegistration.objects.for_tenant(tenant).select_related("application")
                    .filter(application__client_id=client_id, source=RegistrationSource.DCR).first())
    if registration is None or not registration.registration_token_digest or \
            not crypto.secret_matches(token, registration.registration_token_digest) or \
            (registration.registration_token_expires_at or timezone.now()) <= timezone.now():
        raise refused
    registration.application.tenant = tenant
    return registration


@transaction.atomic
def dcr_update(*, registration: ClientRegistration, body, request=None, address: str | None = None):
    """RFC 7592 §2.2: the request holds the whole new metadata; ``client_id`` must match."""
    if not isinstance(body, dict):
        raise md.invalid("the client metadata must be a JSON object")
    client = registration.application
    if body.get("client_id") != client.client_id:
        raise md.invalid("client_id in the body must equal the client being updated")
    if "client_secret" in body and not crypto.secret_matches(str(body["client_secret"]), client.client_secret):
        raise md.invalid("client_secret does not match the client's current secret")
    metadata = md.normalise({k: v for k, v in body.items() if k not in ("client_id", "client_secret",
                                                                         "registration_access_token",
                                                                         "registration_client_uri")})
    # An update keeps a machine grant the registration was given; it cannot add one.
    metadata = machine_grant_checked(metadata, explicit="client_credentials" in client.grant_type_list)
    if metadata["token_endpoint_auth_method"] != client.token_endpoint_auth_method:
        raise md.invalid("token_endpoint_auth_method cannot change; register a new client instead")
    old_uris = client.redirect_uris.split()
    try:
        client_services.client_update(client=client, actor=registrant(address), request=request,
                                      name=md.display_name(metadata), redirect_uris=metadata["redirect_uris"],
                                      grant_types=metadata["grant_types"], jwks=metadata.get("jwks"),
                                      jwks_uri=metadata.get("jwks_uri", ""), client_uri=metadata.get("client_uri", ""),
                                      logo_uri=metadata.get("logo_uri", ""))
    except errors.OAuthServiceError as exc:
        raise md.invalid(str(exc)) from exc
    registration.metadata = metadata
    registration.save(update_fields=["metadata"])
    _recheck_after_change(registration, old_uris=old_uris, request=request)
    return registration


def _recheck_after_change(registration: ClientRegistration, *, old_uris: list[str], request=None) -> None:
    """An approval covered the redirect URIs the client had then. New ones go through the policy again:
    a client approved for 127.0.0.1 must not move its codes to another host unseen. If the policy would
    now queue it, the client goes back to pending (and loses its tokens) until an admin decides."""
    client = registration.application
    new_uris = client.redirect_uris.split()
    if client.status != ClientStatus.APPROVED or set(new_uris) <= set(old_uris):
        return
    arrival = Arrival(source=registration.source, redirect_uris=tuple(new_uris), cimd_url=registration.cimd_url,
                      grant_types=tuple(client.grant_type_list), publisher=registration.publisher)
    try:
        decision = decide(registration.tenant, arrival)
    except RegistrationError:
        decision = Decision(ClientStatus.PENDING, f"policy: {registration.source} closed")
    if decision.status == ClientStatus.PENDING:
        client_services.client_set_status(client=client, status=ClientStatus.PENDING, actor=SYSTEM, request=request,
                                          reason=f"new redirect URIs {', '.join(sorted(set(new_uris) - set(old_uris)))}"
                                                 [:300])
        registration.decision_rule = f"changed redirect URIs: {decision.rule}"[:300]
        registration.decided_by, registration.decided_at = "", None
        registration.save(update_fields=["decision_rule", "decided_by", "decided_at"])
        notify_pending(registration)


@transaction.atomic
def dcr_delete(*, registration: ClientRegistration, request=None, address: str | None = None) -> None:
    client = registration.application
    audit.record(client.tenant, registrant(address), "registration.deleted", client, request,
                 client_id=client.public_client_id, by="client")
    client_services.client_delete(client=client, actor=registrant(address), request=request)


# --- CIMD ----------------------------------------------------------------------------------------

@transaction.atomic
def cimd_register(*, tenant, url: str, document: dict, fetched, request=None, address=None, requester=None):
    """A first sight of a CIMD client_id at this tenant: a client in the state the policy decides."""
    metadata = md.normalise({k: v for k, v in document.items() if k != "client_id"}, cimd=True)
    arrival = Arrival(source=RegistrationSource.CIMD, redirect_uris=tuple(metadata["redirect_uris"]), cimd_url=url,
                      grant_types=tuple(metadata["grant_types"]))
    decision = decide(tenant, arrival)
    if decision.status == ClientStatus.PENDING:
        _check_pending_cap(tenant, policy_of(tenant))
    registration, _, _ = _create(
        tenant=tenant, metadata=metadata, source=RegistrationSource.CIMD, arrival=arrival, decision=decision,
        request=request, address=address, requester=requester,
        cimd=dict(cimd_url=url, cimd_expires_at=fetched.expires_at, cimd_etag=fetched.etag,
                  cimd_document_sha256=fetched.sha256, cimd_fetched_at=timezone.now()))
    return registration


@transaction.atomic
def cimd_refresh(*, registration: ClientRegistration, document: dict | None, fetched,
                 request=None) -> ClientRegistration:
    """A re-fetch of a stale document: ``document`` None means 304 Not Modified (only freshness moves)."""
    registration.cimd_expires_at, registration.cimd_fetched_at = fetched.expires_at, timezone.now()
    if fetched.etag:
        registration.cimd_etag = fetched.etag
    fields = ["cimd_expires_at", "cimd_fetched_at", "cimd_etag"]
    if document is not None and fetched.sha256 != registration.cimd_document_sha256:
        metadata = md.normalise({k: v for k, v in document.items() if k != "client_id"}, cimd=True)
        client = registration.application
        if metadata["token_endpoint_auth_method"] != client.token_endpoint_auth_method:
            raise md.invalid(f"the document now makes the client {metadata['token_endpoint_auth_method']} instead of "
                             f"{client.token_endpoint_auth_method}; a client cannot change type: publish the document "
                             "under a new client_id URL")
        old_uris = client.redirect_uris.split()
        try:
            client_services.client_update(client=client, actor=SYSTEM, request=request,
                                          name=md.display_name(metadata), redirect_uris=metadata["redirect_uris"],
                                          grant_types=metadata["grant_types"], jwks=metadata.get("jwks"),
                                          jwks_uri=metadata.get("jwks_uri", ""),
                                          token_endpoint_auth_methods=metadata["token_endpoint_auth_methods"],
                                          client_uri=metadata.get("client_uri", ""),
                                          logo_uri=metadata.get("logo_uri", ""))
        except errors.OAuthServiceError as exc:
            raise md.invalid(str(exc)) from exc
        registration.metadata, registration.cimd_document_sha256 = metadata, fetched.sha256
        fields += ["metadata", "cimd_document_sha256"]
        audit.record(client.tenant, SYSTEM, "registration.cimd_changed", client, request,
                     client_id=client.public_client_id, cimd_url=registration.cimd_url,
                     redirect_uris=metadata["redirect_uris"])
        registration.save(update_fields=fields)
        _recheck_after_change(registration, old_uris=old_uris, request=request)
        return registration
    registration.save(update_fields=fields)
    return registration


def cimd_failed(*, tenant, url: str, reason: str, request=None, address: str | None = None) -> None:
    """A CIMD fetch or check failed: audited per source address and minute (audit/failures.py), so an
    anonymous caller failing on purpose cannot flood the tenant's chain."""
    address = request.META.get("REMOTE_ADDR") if request is not None else address
    audit.failure(tenant, "registration.cimd_failed", source=address or "unknown", actor=registrant(address),
                  target=("oauth.cimd", url[:255], url[:255]), request=request, cimd_url=url[:500],
                  reason=reason[:500])


# --- the approval workflow -----------------------------------------------------------------------

def _decide(registration: ClientRegistration, *, status: str, actor, reason: str, request, action: str,
            allowed_from: tuple[str, ...]):
    client = registration.application
    if client.status not in allowed_from:
        raise RegistrationServiceError(f"client '{client.name}' is {client.status}; it can be {action} only when "
                                       f"{' or '.join(allowed_from)}", code="conflict")
    previous = client.status
    client_services.client_set_status(client=client, status=status, actor=actor, request=request, reason=reason)
    registration.decided_by = audit_label(actor)
    registration.decided_at, registration.decision_reason = timezone.now(), reason
    registration.save(update_fields=["decided_by", "decided_at", "decision_reason"])
    audit.record(client.tenant, actor, f"registration.{action}", client, request, client_id=client.public_client_id,
                 reason=reason[:300], previous=previous)
    return registration


def audit_label(actor) -> str:
    kind, ident, label = audit.describe_actor(actor)
    return f"{label or ident} ({kind})"[:300]


@transaction.atomic
def registration_approve(*, registration, actor, reason: str = "", request=None):
    return _decide(registration, status=ClientStatus.APPROVED, actor=actor, reason=reason, request=request,
                   action="approved", allowed_from=(ClientStatus.PENDING, ClientStatus.REJECTED))


@transaction.atomic
def registration_reject(*, registration, actor, reason: str, request=None):
    if not (reason or "").strip():
        raise RegistrationServiceError("say why the registration is rejected: the requester sees the reason",
                                       field="reason")
    return _decide(registration, status=ClientStatus.REJECTED, actor=actor, reason=reason.strip(), request=request,
                   action="rejected", allowed_from=(ClientStatus.PENDING,))


@transaction.atomic
def registration_suspend(*, registration, actor, reason: str, request=None):
    """Suspends an approved client. oauth.clients.services.client_set_status revokes every token and grant of the
    client in the same transaction (set-based), so nothing it holds works after the commit."""
    if not (reason or "").strip():
        raise RegistrationServiceError("say why the client is suspended", field="reason")
    return _decide(registration, status=ClientStatus.SUSPENDED, actor=actor, reason=reason.strip(), request=request,
                   action="suspended", allowed_from=(ClientStatus.APPROVED,))


@transaction.atomic
def registration_reapprove(*, registration, actor, reason: str = "", request=None):
    return _decide(registration, status=ClientStatus.APPROVED, actor=actor, reason=reason, request=request,
                   action="reapproved", allowed_from=(ClientStatus.SUSPENDED,))


@transaction.atomic
def registration_justify(*, registration, user, text: str, request=None):
    """The person who met the "awaiting approval" page says why they need the client."""
    text = (text or "").strip()
    if not text:
        raise RegistrationServiceError("write a sentence on why you need this application", field="justification")
    registration.justification, registration.justified_by = text[:2000], user
    registration.justified_at = timezone.now()
    registration.save(update_fields=["justification", "justified_by", "justified_at"])
    audit.record(registration.tenant, user, "registration.justified", registration.application, request,
                 client_id=registration.application.public_client_id)
    notify_pending(registration, justified=True)
    return registration


@transaction.atomic
def registrations_expire_unused(*, tenant, now=None) -> int:
    """Deletes DCR/CIMD clients older than the policy's ``unused_expiry_days`` that never got a token or
    a consent (pending and rejected ones included). Set-based; one audit event per expired client."""
    policy = policy_of(tenant)
    cutoff = (now or timezone.now()) - timedelta(days=policy.unused_expiry_days)
    used = set(AccessToken.objects.for_tenant(tenant).values_list("application_id", flat=True).distinct()) | \
        set(RefreshToken.objects.for_tenant(tenant).values_list("application_id", flat=True).distinct()) | \
        set(Consent.objects.for_tenant(tenant).values_list("application_id", flat=True).distinct())
    stale = (ClientRegistration.objects.for_tenant(tenant).filter(created_at__lt=cutoff)
             .exclude(application_id__in=used).select_related("application"))
    ids = []
    for registration in stale[:1000]:
        client = registration.application
        audit.record(tenant, SYSTEM, "registration.expired", client, None, client_id=client.public_client_id,
                     source=registration.source, status=client.status, days=policy.unused_expiry_days)
        ids.append(client.pk)
    Application.objects.for_tenant(tenant).filter(pk__in=ids).delete()
    return len(ids)


# --- policy, rules, initial access tokens, publishers ----------------------------------------------

POLICY_FIELDS = {"dcr_mode", "cimd_mode", "pending_cap", "unused_expiry_days", "address_rate_per_minute",
                 "tenant_rate_per_minute", "registration_token_days", "notify_emails", "webhook_url"}


@transaction.atomic
def policy_update(*, tenant, actor, request=None, webhook_secret: str | None = None, **changes):
    unknown = set(changes) - POLICY_FIELDS
    if unknown:
        raise RegistrationServiceError(f"unknown policy fields: {', '.join(sorted(unknown))}")
    if changes.get("webhook_url"):
        try:  # an address the admin chose, called by the platform: the egress guard's rules at save time too
            changes["webhook_url"] = egress.check_url(str(changes["webhook_url"]).strip(), egress.policy(),
                                                      resolution_required=False)
        except egress.EgressError as exc:
            raise RegistrationServiceError(f"webhook_url: {exc}", field="webhook_url") from exc
    policy = policy_of(tenant)
    for field, value in changes.items():
        setattr(policy, field, value)
    if "notify_emails" in changes:
        strangers = sorted(set(policy.notify_email_list) - set(recipients_of(policy)))
        if strangers:  # the platform sends mail to the tenant's own people only (no relay)
            raise RegistrationServiceError(f"notify_emails: {', '.join(strangers)[:200]} is not an owner, admin or "
                                           "auditor of this tenant; add them as members first", field="notify_emails")
    if webhook_secret is not None:
        aad = f"registration-webhook:{tenant.pk}".encode()
        policy.webhook_secret = crypto.encrypt(webhook_secret.encode(), aad=aad) if webhook_secret else ""
    try:
        policy.full_clean(exclude=["tenant", "webhook_secret"])
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise RegistrationServiceError(f"{field}: {messages[0]}", field=field) from exc
    policy.save()
    audit.record(tenant, actor, "registration.policy_updated", policy, request, changed=sorted(changes),
                 webhook_secret_changed=webhook_secret is not None, dcr_mode=policy.dcr_mode,
                 cimd_mode=policy.cimd_mode)
    return policy


@transaction.atomic
def rule_create(*, tenant, actor, kind: str, pattern: str = "", position: int | None = None, request=None):
    if kind not in RuleKind.values:
        raise RegistrationServiceError(f"rule kind must be one of {', '.join(RuleKind.values)}", field="kind")
    pattern = " ".join((pattern or "").split())[:500]
    if kind in (RuleKind.REDIRECT_HOST, RuleKind.CIMD_URL, RuleKind.PUBLISHER) and not pattern:
        raise RegistrationServiceError("a rule of this kind needs a pattern (what it matches)", field="pattern")
    if kind == RuleKind.CIMD_URL and any("://" in p and not p.startswith("https://") for p in pattern.split()):
        raise RegistrationServiceError("CIMD URL patterns start with https://", field="pattern")
    if position is None:
        last = ApprovalRule.objects.for_tenant(tenant).order_by("-position").values_list("position", flat=True).first()
        position = (last or 0) + 10
    rule = ApprovalRule.objects.create(tenant=tenant, kind=kind, pattern=pattern, position=position)
    audit.record(tenant, actor, "registration.rule_created", rule, request, kind=kind, pattern=pattern,
                 position=position)
    return rule


@transaction.atomic
def rule_delete(*, rule: ApprovalRule, actor, request=None) -> None:
    audit.record(rule.tenant, actor, "registration.rule_deleted", rule, request, kind=rule.kind, pattern=rule.pattern)
    rule.delete()


@transaction.atomic
def initial_access_token_create(*, tenant, actor, label: str, days: int = 7, max_uses: int = 1, request=None):
    """Returns (row, token): the token is shown once."""
    label = (label or "").strip()
    if not label:
        raise RegistrationServiceError("label the token with who it is for", field="label")
    if not 1 <= int(days) <= 365 or not 1 <= int(max_uses) <= 10_000:
        raise RegistrationServiceError("days must be 1-365 and max_uses 1-10000", field="days")
    token = crypto.generate_secret()
    row = InitialAccessToken.objects.create(tenant=tenant, label=label[:200], token_digest=crypto.secret_digest(token),
                                            expires_at=timezone.now() + timedelta(days=int(days)),
                                            max_uses=int(max_uses), created_by=audit_label(actor))
    audit.record(tenant, actor, "registration.iat_created", row, request, label=row.label, days=int(days),
                 max_uses=int(max_uses))
    return row, token


@transaction.atomic
def initial_access_token_revoke(*, row: InitialAccessToken, actor, request=None):
    if row.revoked_at is None:
        row.revoked_at = timezone.now()
        row.save(update_fields=["revoked_at"])
        audit.record(row.tenant, actor, "registration.iat_revoked", row, request, label=row.label)
    return row


@transaction.atomic
def publisher_create(*, tenant, actor, name: str, issuer: str, jwks, request=None):
    name, issuer = (name or "").strip(), (issuer or "").strip()
    if not name or not issuer:
        raise RegistrationServiceError("a publisher needs a name and the issuer (iss) of its statements",
                                       field="issuer")
    try:
        usable = jwt.PyJWKSet.from_dict(jwks).keys if isinstance(jwks, dict) else []
    except jwt.PyJWTError:
        usable = []
    if not usable or any("d" in k for k in jwks.get("keys", [])):
        raise RegistrationServiceError("jwks must be a JWK Set with at least one usable public key", field="jwks")
    if TrustedPublisher.objects.for_tenant(tenant).filter(issuer=issuer).exists():
        raise RegistrationServiceError(f"a publisher with issuer '{issuer}' already exists", code="duplicate",
                                       field="issuer")
    publisher = TrustedPublisher.objects.create(tenant=tenant, name=name[:200], issuer=issuer[:500], jwks=jwks)
    audit.record(tenant, actor, "registration.publisher_created", publisher, request, issuer=issuer)
    return publisher


@transaction.atomic
def publisher_delete(*, publisher: TrustedPublisher, actor, request=None) -> None:
    audit.record(publisher.tenant, actor, "registration.publisher_deleted", publisher, request,
                 issuer=publisher.issuer)
    publisher.delete()
