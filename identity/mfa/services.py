"""Writes: enrolment and removal of factors, recovery codes, the checks of a second factor (each success
and failure audited, wrong answers counted per account), and each tenant's policy."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

import audit
from kit import crypto, ratelimit

from . import passkeys as webauthn
from . import selectors, totp
from .models import MfaPolicy, Passkey, RecoveryCode, Rule, TotpDevice

RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read from paper


class MfaError(Exception):
    """A refused second factor: ``code`` for pages and the audit log, ``status`` for the answer."""

    def __init__(self, code: str, message: str, *, status: int = 400, retry_after: int | None = None):
        super().__init__(message)
        self.code, self.status, self.retry_after = code, status, retry_after


# --- wrong answers, counted per account --------------------------------------------------------------

def _failures_key(user) -> str:
    return f"signin:rl:mfa:{user.pk}"  # the sign-in limiter's namespace


def _refuse_if_locked(user) -> None:
    window = settings.MFA_LOCKOUT_SECONDS
    try:
        failures = ratelimit.hit(_failures_key(user), window=window, fail_open=False, amount=0)
    except ratelimit.Unavailable as exc:
        # Fails closed: a 6-digit code without a limit on guesses is no factor.
        raise MfaError("unavailable", _("Second factors cannot be checked right now. Try again in a minute."),
                       status=503) from exc
    if failures >= settings.MFA_CODE_FAILURES:
        wait = ratelimit.retry_after(window)
        raise MfaError("locked", _("Too many wrong answers. Try again in %(minutes)s minute(s).") % {
            "minutes": max(1, wait // 60)},
                       status=429, retry_after=wait)


def _failed(user, *, tenant, request, method: str, purpose: str, error: MfaError) -> MfaError:
    """Counts a wrong answer and records it (and the lockout it may cause); returns the error to raise."""
    try:
        failures = ratelimit.hit(_failures_key(user), window=settings.MFA_LOCKOUT_SECONDS, fail_open=False)
    except ratelimit.Unavailable:
        failures = 0
    with transaction.atomic():
        audit.record(tenant, user, "mfa.challenge_failed", user, request, method=method, purpose=purpose,
                     reason=error.code)
        if failures == settings.MFA_CODE_FAILURES:
            audit.record(tenant, user, "mfa.locked", user, request, failures=failures,
                         seconds=settings.MFA_LOCKOUT_SECONDS)
    return error


def _succeeded(user, *, tenant, request, method: str, purpose: str, **data) -> None:
    audit.record(tenant, user, "mfa.challenge_succeeded", user, request, method=method, purpose=purpose, **data)


# --- enrolment ---------------------------------------------------------------------------------------

def _new_recovery_codes(user) -> list[str]:
    codes = ["-".join("".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(5)) for _ in range(2))
             for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.filter(user=user).delete()
    RecoveryCode.objects.bulk_create([RecoveryCode(user=user, digest=crypto.secret_digest(c)) for c in codes])
    return codes


def _first_factor_codes(user) -> list[str] | None:
    """Recovery codes come with the first factor; later factors keep the codes the person has."""
    if RecoveryCode.objects.filter(user=user).exists():
        return None
    return _new_recovery_codes(user)


def totp_enrol(*, user, secret: str, code: str, name: str, tenant=None, request=None):
    """Confirms an authenticator app with a code it shows; returns (device, new recovery codes or None)."""
    _refuse_if_locked(user)
    step = totp.matching_step(secret, code, after_step=0)
    if step is None:
        raise _failed(user, tenant=tenant, request=request, method="otp", purpose="enrolment",
                      error=MfaError("wrong_code", _("That code is not right. Check the app's clock and try the "
                                                     "next code.")))
    with transaction.atomic():
        device = TotpDevice(user=user, name=(name or "Authenticator app")[:80], last_step=step)
        device.secret_encrypted = crypto.encrypt(secret.encode(), aad=device.secret_aad)
        device.save()
        codes = _first_factor_codes(user)
        audit.record(tenant, user, "mfa.factor_enrolled", user, request, kind="totp", factor_id=str(device.pk),
                     name=device.name)
    return device, codes


def passkey_enrol(*, user, credential: str, name: str, session, tenant=None, request=None):
    """Verifies a navigator.credentials.create() answer and keeps the passkey; (passkey, codes or None)."""
    try:
        verified = webauthn.verify_registration(session, credential)
    except webauthn.PasskeyError as exc:
        raise _failed(user, tenant=tenant, request=request, method="hwk", purpose="enrolment",
                      error=MfaError("passkey_invalid", str(exc))) from exc
    if Passkey.objects.filter(credential_id=verified.credential_id).exists():
        raise MfaError("passkey_known", _("This passkey is already registered."), status=409)
    with transaction.atomic():
        passkey = Passkey.objects.create(
            user=user, name=(name or "Passkey")[:80], credential_id=verified.credential_id,
            public_key=verified.credential_public_key, sign_count=verified.sign_count, aaguid=str(verified.aaguid),
            backed_up=verified.credential_backed_up, rp_id=webauthn.rp_id())
        codes = _first_factor_codes(user)
        audit.record(tenant, user, "mfa.factor_enrolled", user, request, kind="passkey", factor_id=str(passkey.pk),
                     name=passkey.name, user_verified=verified.user_verified)
    return passkey, codes


@transaction.atomic
def factor_remove(*, user, factor, tenant=None, request=None) -> None:
    """Removes one of the person's factors (the view has asked for a fresh one first). The last factor
    takes the recovery codes with it."""
    kind, factor_id = factor.kind, str(factor.pk)
    factor.delete()
    if not selectors.has_factor(user):
        RecoveryCode.objects.filter(user=user).delete()
    audit.record(tenant, user, "mfa.factor_removed", user, request, kind=kind, factor_id=factor_id, name=factor.name,
                 factors_left=int(selectors.has_factor(user)))


@transaction.atomic
def recovery_codes_generate(*, user, tenant=None, request=None) -> list[str]:
    """New recovery codes; the old ones stop working."""
    codes = _new_recovery_codes(user)
    audit.record(tenant, user, "mfa.recovery_codes_generated", user, request, count=len(codes))
    return codes


# --- challenges --------------------------------------------------------------------------------------

def code_verify(*, user, code: str, purpose: str, tenant=None, request=None) -> list[str]:
    """A code from an authenticator app or a recovery code; returns the RFC 8176 methods it proves."""
    _refuse_if_locked(user)
    code = (code or "").strip().lower()
    digits = code.replace(" ", "")
    if digits.isdigit():
        with transaction.atomic():
            for device in TotpDevice.objects.select_for_update().filter(user=user):
                secret = crypto.decrypt(device.secret_encrypted, aad=device.secret_aad).decode()
                step = totp.matching_step(secret, digits, after_step=device.last_step)
                if step is not None:
                    device.last_step, device.last_used_at = step, timezone.now()
                    device.save(update_fields=["last_step", "last_used_at"])
                    _succeeded(user, tenant=tenant, request=request, method="otp", purpose=purpose,
                               factor_id=str(device.pk))
                    return ["otp"]
        raise _failed(user, tenant=tenant, request=request, method="otp", purpose=purpose,
                      error=MfaError("wrong_code", _("That code is not right, or it was already used. "
                                                     "Wait for the next code and try again.")))
    with transaction.atomic():
        for row in RecoveryCode.objects.select_for_update().filter(user=user, used_at__isnull=True):
            if crypto.secret_matches(code, row.digest):
                row.used_at = timezone.now()
                row.save(update_fields=["used_at"])
                left = selectors.unused_recovery_codes_of(user).count()
                _succeeded(user, tenant=tenant, request=request, method="recovery_code", purpose=purpose,
                           recovery_codes_left=left)
                return ["otp"]
    raise _failed(user, tenant=tenant, request=request, method="recovery_code", purpose=purpose,
                  error=MfaError("wrong_code", _("That recovery code is not right, or it was already used.")))


def passkey_verify(*, user, credential: str, session, purpose: str, tenant=None, request=None) -> list[str]:
    """A navigator.credentials.get() answer from one of the person's passkeys; the methods it proves."""
    _refuse_if_locked(user)
    try:
        raw_id = webauthn.credential_id_of(credential)
    except webauthn.PasskeyError as exc:
        raise _failed(user, tenant=tenant, request=request, method="hwk", purpose=purpose,
                      error=MfaError("passkey_invalid", str(exc))) from exc
    passkey = Passkey.objects.filter(credential_id=raw_id).first()
    if passkey is None or passkey.user_id != user.pk:
        session.pop(webauthn.AUTHENTICATION_KEY, None)  # the challenge dies with the wrong answer
        reason = "passkey_unknown" if passkey is None else "passkey_other_account"
        raise _failed(user, tenant=tenant, request=request, method="hwk", purpose=purpose,
                      error=MfaError(reason, _("This passkey is not one of this account's passkeys.")))
    try:
        verified = webauthn.verify_authentication(session, credential, passkey)
    except webauthn.PasskeyError as exc:
        raise _failed(user, tenant=tenant, request=request, method="hwk", purpose=purpose,
                      error=MfaError("passkey_invalid", str(exc))) from exc
    with transaction.atomic():
        Passkey.objects.filter(pk=passkey.pk).update(sign_count=verified.new_sign_count, last_used_at=timezone.now())
        _succeeded(user, tenant=tenant, request=request, method="hwk", purpose=purpose, factor_id=str(passkey.pk),
                   user_verified=verified.user_verified)
    return ["hwk", "user"]


# --- policy ------------------------------------------------------------------------------------------

@transaction.atomic
def policy_set(*, tenant, rule: str, actor, request=None) -> MfaPolicy:
    if rule not in Rule.values:
        raise MfaError("invalid_rule", f"unknown policy {rule[:20]!r}")
    policy, _ = MfaPolicy.objects.for_tenant(tenant).get_or_create(tenant=tenant)
    before = policy.rule
    policy.rule = rule
    policy.save(update_fields=["rule", "updated_at"])
    audit.record(tenant, actor, "mfa.policy_updated", policy, request, severity="warning" if rule == Rule.OFF and
                 before != Rule.OFF else None, before=before, after=rule)
    return policy
