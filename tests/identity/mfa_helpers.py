"""Shared by the MFA tests: sign in through the real pages, enrol TOTP as a person would (the secret read
from the enrolment page, codes computed here), and an ES256 software authenticator that answers WebAuthn
ceremonies for any origin and RP ID (for the bad-input tests; Chromium's virtual authenticator does the
real ones)."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import struct
import time
from base64 import urlsafe_b64decode, urlsafe_b64encode

import cbor2
import pyotp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.factories import PASSWORD


def b64(raw: bytes) -> str:
    return urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


def password_sign_in(http, user, *, slug: str = "", next_url: str = ""):
    url = f"/t/{slug}/login" if slug else "/login"
    return http.post(url, {"username": user.email, "password": PASSWORD, "next": next_url})


def enrol_totp(http, *, slug: str = "") -> tuple[str, list[str]]:
    """Enrols an authenticator app on the account page; returns (secret, the recovery codes shown)."""
    account = f"/t/{slug}/account/security" if slug else "/account/security"
    page = http.get(account).content.decode()
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    # The previous step's code (within the allowed drift), so the current one is still fresh for the test.
    previous = pyotp.TOTP(secret).at(time.time() - 30)
    answer = http.post(account, {"action": "totp", "name": "Phone", "code": previous})
    assert answer.status_code == 302, answer.content[:400]
    shown = http.get(answer["Location"]).content.decode()
    return secret, re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", shown)


def next_code(secret: str, *, after: str | None = None) -> str:
    """A valid code that differs from ``after`` (one step ahead when the current one was just used)."""
    totp = pyotp.TOTP(secret)
    code = totp.now()
    return totp.at(time.time() + totp.interval) if code == after else code


class SoftAuthenticator:
    """One ES256 credential, answering like a passkey would, for whatever origin and RP ID it is told."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(16)
        self.sign_count = 0

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def _auth_data(self, rp_id: str, *, attested: bool) -> bytes:
        self.sign_count += 1
        flags = 0x01 | 0x04 | (0x40 if attested else 0)  # user present, user verified, attested data
        data = hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", self.sign_count)
        if attested:
            data += bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id + self._cose_key()
        return data

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}).encode()

    def create(self, options: dict, *, origin: str, rp_id: str | None = None) -> dict:
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {},
                                   "authData": self._auth_data(rp_id or options["rp"]["id"], attested=True)})
        return {"id": b64(self.credential_id), "rawId": b64(self.credential_id), "type": "public-key",
                "clientExtensionResults": {},
                "response": {"clientDataJSON": b64(client_data), "attestationObject": b64(attestation),
                             "transports": ["internal"]}}

    def get(self, options: dict, *, origin: str, rp_id: str | None = None) -> dict:
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        auth_data = self._auth_data(rp_id or options["rpId"], attested=False)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {"id": b64(self.credential_id), "rawId": b64(self.credential_id), "type": "public-key",
                "clientExtensionResults": {},
                "response": {"clientDataJSON": b64(client_data), "authenticatorData": b64(auth_data),
                             "signature": b64(signature), "userHandle": None}}


def post_json(http, url: str, body: dict | None = None):
    return http.post(url, json.dumps(body or {}), content_type="application/json")
