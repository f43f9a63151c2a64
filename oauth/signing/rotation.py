"""The signing-key lifecycle engine: scheduled rotation per tenant policy, rotate-now, emergency rotation,
and re-wrapping private keys under the current platform KEK (ARCHITECTURE §3 and §6).

A key moves ``next`` -> ``active`` -> ``retired`` -> ``removed``:

- a ``next`` key is published in the JWKS ``lead_time`` before it signs. ``lead_time`` is at least the
  JWKS cache lifetime (the ``max-age`` the JWKS endpoint sends), so a resource server that cached the
  key set knows the key before the first token it signs arrives: no failed validation at rotation;
- the active key is rotated ``rotation_interval`` after it started signing, and only once its successor
  has been published for ``lead_time`` (otherwise the successor is made now and rotation waits);
- a retired key stays published until no unexpired access token carries its ``kid`` (the token rows
  record it), plus ``removal_grace`` for resource servers' clock leeway; then it is removed.

Every step for one tenant runs under a row lock on the tenant (``FOR NO KEY UPDATE``: token issuance,
which only references the tenant row, is not blocked), and re-reads the keys after taking it. Two
rotations requested at once therefore serialize: the second sees the first one's result and does
nothing, which is audited as ``key.rotation_skipped``.

The state changes themselves are oauth.signing.services' (``signing_key_create``, ``key_rotate``, ``key_remove``);
this module decides when to call them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

import audit
from audit.services import Actor
from kit import crypto
from tenants.models import Tenant

from ..config.services import tenant_auth_settings
from ..errors import OAuthServiceError
from ..grants import revocation
from ..models import AccessToken, KeyState, SigningKey
from . import keys
from .policy import KeyRotationPolicy
from .services import key_remove, key_rotate, signing_key_create

log = logging.getLogger(__name__)

ROTATION_JOB = "oauth.rotate_signing_keys"
REWRAP_JOB = "oauth.rewrap_signing_keys"
ROTATION_ACTOR = Actor("job", ROTATION_JOB, "scheduled key rotation")


def jwks_cache_lifetime() -> int:
    """Seconds a resource server may cache the JWKS (the endpoint's max-age): the floor of lead_time."""
    return keys.JWKS_MAX_AGE


# --- policy ---------------------------------------------------------------------------------------

def policy_of(tenant) -> KeyRotationPolicy:
    """The tenant's policy, or the defaults (unsaved) when it never changed them."""
    return KeyRotationPolicy.objects.for_tenant(tenant).first() or KeyRotationPolicy(tenant=tenant)


POLICY_FIELDS = ("enabled", "rotation_interval", "lead_time", "removal_grace")


@transaction.atomic
def rotation_policy_update(*, tenant, actor, request=None, **changes) -> KeyRotationPolicy:
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise OAuthServiceError(f"cannot change {', '.join(sorted(unknown))}; settable: {', '.join(POLICY_FIELDS)}")
    policy = policy_of(tenant)
    for name, value in changes.items():
        if name != "enabled":
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise OAuthServiceError(f"{name} must be a whole number of seconds", field=name) from None
            if value < 0:
                raise OAuthServiceError(f"{name} cannot be negative", field=name)
        setattr(policy, name, value)
    floor = jwks_cache_lifetime()
    if policy.lead_time < floor:
        raise OAuthServiceError(f"lead_time must be at least the JWKS cache lifetime ({floor} s), so every "
                                "resource server has fetched the next key before it signs", field="lead_time")
    if policy.rotation_interval <= policy.lead_time:
        raise OAuthServiceError("rotation_interval must be longer than lead_time (the next key is published "
                                "during the active key's interval)", field="rotation_interval")
    policy.save()
    audit.record(tenant, actor, "key_policy.updated", policy, request,
                 **{name: getattr(policy, name) for name in POLICY_FIELDS})
    return policy


# --- the lifecycle --------------------------------------------------------------------------------

@dataclass
class StepResult:
    created: list[str] = field(default_factory=list)
    rotated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.rotated or self.removed)


def _lock_tenant(tenant) -> Tenant | None:
    """Serializes lifecycle changes of one tenant's keys; None when the tenant was deleted meanwhile."""
    return Tenant.objects.select_for_update(no_key=True).filter(pk=tenant.pk).first()


def _live_keys(tenant) -> list[SigningKey]:
    return list(SigningKey.objects.for_tenant(tenant).exclude(state=KeyState.REMOVED).order_by("created_at"))


def last_token_expiry(tenant, kid: str):
    """When the last access token signed with ``kid`` expires (None: there is none left)."""
    return AccessToken.objects.for_tenant(tenant).filter(kid=kid).aggregate(last=Max("expires"))["last"]


def removable_at(tenant, key: SigningKey, policy: KeyRotationPolicy):
    """The earliest moment a retired key may leave the JWKS."""
    grace = timedelta(seconds=policy.removal_grace)
    last = last_token_expiry(tenant, key.kid)
    # retired_at + grace also covers a token signed just before retirement whose row is not committed yet.
    return max(filter(None, [key.retired_at, last])) + grace


@transaction.atomic
def rotation_step(*, tenant, now=None, actor=ROTATION_ACTOR) -> StepResult:
    """One pass of the lifecycle for one tenant: publish the next key ahead of time, promote it when due,
    remove retired keys whose tokens have all expired. Idempotent: a second pass changes nothing."""
    result = StepResult()
    if _lock_tenant(tenant) is None:
        return result
    now = now or timezone.now()
    policy = policy_of(tenant)
    alg = tenant_auth_settings(tenant).signing_alg
    live = _live_keys(tenant)
    active = next((k for k in live if k.state == KeyState.ACTIVE), None)
    successors = [k for k in live if k.state == KeyState.NEXT and k.alg == alg]
    if active is None:  # never left so: signing is broken until a key is active
        result.rotated.append(key_rotate(tenant=tenant, actor=actor, alg=alg).kid)
        return result
    if policy.enabled:
        due = active.activated_at + timedelta(seconds=policy.rotation_interval)
        ripe = [k for k in successors if k.created_at + timedelta(seconds=policy.lead_time) <= now]
        if now >= due and ripe:
            result.rotated.append(key_rotate(tenant=tenant, actor=actor, alg=alg).kid)
        elif not successors and now >= due - timedelta(seconds=policy.lead_time):
            result.created.append(signing_key_create(tenant=tenant, actor=actor, alg=alg, state=KeyState.NEXT).kid)
    for key in live:
        if key.state == KeyState.RETIRED and removable_at(tenant, key, policy) <= now:
            result.removed.append(key_remove(key=key, actor=actor).kid)
    return result


def due_tenant_ids(now=None) -> list:
    """Tenants whose keys need a lifecycle step now, from three queries for all tenants together."""
    now = now or timezone.now()
    policies = {p.tenant_id: p for p in KeyRotationPolicy.objects.unscoped()}
    default = KeyRotationPolicy()
    state: dict = {}
    # Suspended tenants too: their keys keep ageing, and a suspension is often lifted.
    rows = SigningKey.objects.unscoped().exclude(state=KeyState.REMOVED).values_list(
        "tenant_id", "kid", "state", "activated_at", "created_at", "retired_at")
    retired = {}
    for tenant_id, kid, key_state, activated_at, created_at, retired_at in rows:
        entry = state.setdefault(tenant_id, {"active": None, "next": [], "removable": False})
        if key_state == KeyState.ACTIVE:
            entry["active"] = activated_at
        elif key_state == KeyState.NEXT:
            entry["next"].append(created_at)
        else:
            retired[kid] = (tenant_id, retired_at)
    # When each retired key's last token expires: one grouped query over the kid index for all tenants.
    last_expiry = dict(AccessToken.objects.unscoped().filter(kid__in=list(retired)).values_list("kid")
                       .annotate(last=Max("expires")).values_list("kid", "last"))
    for kid, (tenant_id, retired_at) in retired.items():
        grace = timedelta(seconds=policies.get(tenant_id, default).removal_grace)
        if max(filter(None, [retired_at, last_expiry.get(kid)])) + grace <= now:
            state[tenant_id]["removable"] = True
    due = []
    for tenant_id, entry in state.items():
        policy = policies.get(tenant_id, default)
        if entry["removable"] or entry["active"] is None:
            due.append(tenant_id)
            continue
        if not policy.enabled:
            continue
        rotate_at = entry["active"] + timedelta(seconds=policy.rotation_interval)
        if not entry["next"]:
            if now >= rotate_at - timedelta(seconds=policy.lead_time):
                due.append(tenant_id)
        elif now >= rotate_at and min(entry["next"]) + timedelta(seconds=policy.lead_time) <= now:
            due.append(tenant_id)
    return due


def rotation_sweep(*, tenant_ids=None, now=None, progress=None) -> dict:
    """A lifecycle step for every due tenant (each in its own transaction); returns counts."""
    tenant_ids = due_tenant_ids(now) if tenant_ids is None else tenant_ids
    counts = {"tenants": len(tenant_ids), "created": 0, "rotated": 0, "removed": 0, "failed": 0}
    for done, tenant in enumerate(Tenant.objects.filter(pk__in=tenant_ids).iterator(), start=1):
        try:
            step = rotation_step(tenant=tenant, now=now)
        except Exception:  # one tenant's failure must not stop the others; it is logged and counted
            log.exception("key rotation failed for tenant %s", tenant.slug)
            counts["failed"] += 1
        else:
            for name in ("created", "rotated", "removed"):
                counts[name] += len(getattr(step, name))
        if progress is not None:
            progress(done)
    return counts


# --- manual and emergency rotation ----------------------------------------------------------------

def active_key_of(tenant) -> SigningKey | None:
    return SigningKey.objects.for_tenant(tenant).filter(state=KeyState.ACTIVE).first()


@transaction.atomic
def key_rotate_now(*, tenant, actor, expected_kid: str | None = None, alg: str | None = None,
                   request=None) -> SigningKey | None:
    """Rotates at once (console "rotate now", ``rotate_keys`` command). ``expected_kid`` is the active key
    the caller saw: if another rotation replaced it meanwhile, this one is a no-op (audited) and returns
    None, so two clicks or two operators rotate once, not twice."""
    if _lock_tenant(tenant) is None:
        return None
    active = active_key_of(tenant)
    if expected_kid and (active is None or active.kid != expected_kid):
        audit.record(tenant, actor, "key.rotation_skipped", active, request, expected_kid=expected_kid,
                     active_kid=active.kid if active else None, reason="the key was rotated by another request")
        return None
    return key_rotate(tenant=tenant, actor=actor, alg=alg, request=request)


@dataclass
class EmergencyResult:
    compromised: str
    active: SigningKey
    revoked: int


@transaction.atomic
def key_emergency_rotate(*, tenant, actor, kid: str | None = None, request=None) -> EmergencyResult | None:
    """A key is compromised: a new key signs at once, the compromised key leaves the JWKS now and every
    access token it signed is revoked (deleted: introspection answers inactive at once).

    The successor is the published ``next`` key when there is one (fresh material, never used, already in
    resource servers' caches), else a new key. Refresh tokens survive, so clients refresh onto the new key.
    ``kid`` defaults to the active key; a retired key can be named too. Returns None when the key is
    already removed (a repeated emergency is a no-op, audited).
    """
    if _lock_tenant(tenant) is None:
        return None
    live = {k.kid: k for k in _live_keys(tenant)}
    active = next((k for k in live.values() if k.state == KeyState.ACTIVE), None)
    target = live.get(kid) if kid else active
    if target is None:
        audit.record(tenant, actor, "key.rotation_skipped", None, request, expected_kid=kid,
                     reason="the key is not published any more (already removed)")
        return None
    if target.state == KeyState.NEXT:
        raise OAuthServiceError("a next key has signed nothing; remove it by rotating instead of an emergency")
    new_active = key_rotate(tenant=tenant, actor=actor, request=request) if target.state == KeyState.ACTIVE \
        else active
    target.refresh_from_db()
    key_remove(key=target, actor=actor, request=request)
    revoked = revocation.revoke_now(tenant=tenant, selection=revocation.Selection(kid=target.kid))
    keys.forget_active_key(tenant.pk)
    audit.record(tenant, actor, "key.emergency_rotated", target, request, kid=target.kid,
                 new_kid=new_active.kid if new_active else None, tokens_revoked=revoked)
    return EmergencyResult(compromised=target.kid, active=new_active, revoked=revoked)


# --- KEK re-wrap ---------------------------------------------------------------------------------

def keys_to_rewrap():
    """Every signing key whose private key is wrapped under an older KEK version, or written before
    envelopes (all tenants)."""
    return SigningKey.objects.unscoped().exclude(private_key__startswith=crypto.current_prefix())


def secrets_to_rewrap() -> int:
    """How many encrypted values of any registered field (kit.crypto) are under an older KEK."""
    return crypto.pending_count()


def rewrap_keys(*, batch_size: int = 100, actor=None, progress=None, check_cancelled=None) -> int:
    """Re-encrypts every registered encrypted field (signing keys, SSO client secrets and keys, gateway
    and management secrets, webhook secrets, sink secrets, the audit signing key) under the current KEK,
    a batch per transaction, each value audited; resumable (a value already under the current version is
    not selected again). Returns how many values were re-wrapped."""
    actor = actor or Actor("job", REWRAP_JOB, "KEK re-wrap")
    current = crypto.current_kek_version()

    def record(entry, row, previous):
        if isinstance(row, SigningKey):
            audit.record(row.tenant, actor, "key.rewrapped", row, kid=row.kid, previous_kek=previous, kek=current)
            return
        tenant = Tenant.objects.filter(pk=getattr(row, "tenant_id", None)).first()
        audit.record(tenant, actor, "secret.rewrapped", (entry.model.lower(), str(row.pk), entry.label),
                     field=entry.label, previous_kek=previous, kek=current)

    return crypto.rewrap_all(batch_size=batch_size, on_rewrapped=record, progress=progress,
                             check_cancelled=check_cancelled)


# --- reads for the console and API ----------------------------------------------------------------

def key_timeline(tenant) -> list[dict]:
    """Every key of the tenant with its dates, newest first, and when the engine will act on it next."""
    policy = policy_of(tenant)
    rows = []
    for key in SigningKey.objects.for_tenant(tenant).order_by("-created_at"):
        upcoming = None
        if key.state == KeyState.ACTIVE and key.activated_at:
            upcoming = ("rotates", key.activated_at + timedelta(seconds=policy.rotation_interval))
        elif key.state == KeyState.NEXT:
            upcoming = ("may sign from", key.created_at + timedelta(seconds=policy.lead_time))
        elif key.state == KeyState.RETIRED:
            upcoming = ("removed after", removable_at(tenant, key, policy))
        rows.append({"kid": key.kid, "alg": key.alg, "state": key.state, "created_at": key.created_at,
                     "activated_at": key.activated_at, "retired_at": key.retired_at, "removed_at": key.removed_at,
                     "kek": crypto.kek_version_of(key.private_key),
                     "upcoming": upcoming[0] if upcoming else "", "upcoming_at": upcoming[1] if upcoming else None})
    return rows
