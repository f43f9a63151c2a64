"""TOTP (RFC 6238) with pyotp: 30-second steps, 6 digits, SHA-1 (what every authenticator app reads from
an otpauth:// URI), one step of clock drift either way, each step usable once."""

from __future__ import annotations

import hmac
import time

import pyotp
import segno

DIGITS = 6
DRIFT_STEPS = 1


def new_secret() -> str:
    return pyotp.random_base32(32)  # 160 bits, RFC 4226's recommended length


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG QR code (no image library, no request elsewhere)."""
    return segno.make(uri, error="m").svg_inline(scale=5, dark="#111", light="#fff")


def matching_step(secret: str, code: str, *, after_step: int, now: float | None = None) -> int | None:
    """The time step ``code`` belongs to, if it is valid and newer than ``after_step``; else None."""
    code = (code or "").strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS)
    now = time.time() if now is None else now
    for drift in range(-DRIFT_STEPS, DRIFT_STEPS + 1):
        at = now + drift * totp.interval
        step = totp.timecode(at)
        if step > after_step and hmac.compare_digest(totp.at(at), code):
            return step
    return None

