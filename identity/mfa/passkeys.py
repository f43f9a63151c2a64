"""WebAuthn passkeys with py_webauthn: the relying party is the platform's public host (``WEBAUTHN_RP_ID``,
by default the host of ``PUBLIC_URL``), the origin ``PUBLIC_URL``'s. Registration asks for a discoverable
credential with user verification preferred; every ceremony's challenge is single use (kept in the
session, taken when the answer arrives)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse, WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

REGISTRATION_KEY = "mfa_webauthn_registration"
AUTHENTICATION_KEY = "mfa_webauthn_authentication"


class PasskeyError(Exception):
    """A ceremony answer that does not verify; the message says why, for the person and the audit log."""


def rp_id() -> str:
    return settings.WEBAUTHN_RP_ID or urlsplit(settings.PUBLIC_URL).hostname or "localhost"


def expected_origin() -> str:
    parts = urlsplit(settings.PUBLIC_URL)
    return f"{parts.scheme}://{parts.netloc}"


def _descriptors(passkeys) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=bytes(p.credential_id)) for p in passkeys]


def registration_options(session, *, user, existing) -> str:
    options = generate_registration_options(
        rp_id=rp_id(), rp_name="MCP Auth Platform", user_id=user.pk.bytes, user_name=user.email,
        user_display_name=user.get_full_name(), exclude_credentials=_descriptors(existing),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED, user_verification=UserVerificationRequirement.PREFERRED))
    session[REGISTRATION_KEY] = bytes_to_base64url(options.challenge)
    return options_to_json(options)


def verify_registration(session, credential: str):
    challenge = session.pop(REGISTRATION_KEY, None)
    if not challenge:
        raise PasskeyError(_("No passkey registration was started in this browser, or it was already answered."))
    try:
        return verify_registration_response(credential=credential, expected_challenge=base64url_to_bytes(challenge),
                                            expected_rp_id=rp_id(), expected_origin=expected_origin())
    except (InvalidRegistrationResponse, WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError(_("The passkey's answer did not verify: %(reason)s") % {"reason": exc}) from exc


def authentication_options(session, *, passkeys) -> str:
    options = generate_authentication_options(rp_id=rp_id(), allow_credentials=_descriptors(passkeys),
                                              user_verification=UserVerificationRequirement.PREFERRED)
    session[AUTHENTICATION_KEY] = bytes_to_base64url(options.challenge)
    return options_to_json(options)


def credential_id_of(credential: str) -> bytes:
    """The raw id a navigator.credentials.get() answer names (to find the stored passkey)."""
    try:
        return base64url_to_bytes(json.loads(credential)["rawId"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PasskeyError(_("The answer is not a WebAuthn credential.")) from exc


def verify_authentication(session, credential: str, passkey):
    challenge = session.pop(AUTHENTICATION_KEY, None)
    if not challenge:
        raise PasskeyError(_("No passkey sign-in was started in this browser, or it was already answered."))
    try:
        return verify_authentication_response(
            credential=credential, expected_challenge=base64url_to_bytes(challenge), expected_rp_id=rp_id(),
            expected_origin=expected_origin(), credential_public_key=bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count)
    except (InvalidAuthenticationResponse, WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError(_("The passkey's answer did not verify: %(reason)s") % {"reason": exc}) from exc
