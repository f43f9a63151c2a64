"""A signed, short-lived identity assertion the gateway may send upstream instead of the caller's token.

The caller's access token is never forwarded (no token passthrough: the upstream is not its audience).
An upstream that wants to know who is calling verifies this small HS256 JWT with the secret it shares with
the gateway: ``iss`` is the protected resource, ``aud`` the upstream URL, ``sub``/``client_id``/``scope``
copied from the verified token, and it lives for a minute.
"""

from __future__ import annotations

import time
import uuid

import jwt

from .errors import GuardError
from .verifier import VerifiedToken

DEFAULT_HEADER = "X-MCP-Identity"


class IdentityAssertion:
    def __init__(self, secret: str | bytes, *, issuer: str, audience: str, lifetime: int = 60,
                 header: str = DEFAULT_HEADER):
        secret = secret.encode() if isinstance(secret, str) else secret
        if len(secret) < 32:
            raise GuardError("the identity assertion secret must be at least 32 bytes")
        self.secret, self.issuer, self.audience, self.lifetime = secret, issuer, audience, lifetime
        self.header = header.lower()

    def sign(self, token: VerifiedToken) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.audience, "sub": token.subject, "client_id": token.client_id,
                  "scope": " ".join(sorted(token.scopes)), "token_issuer": token.issuer, "iat": now,
                  "exp": now + self.lifetime, "jti": uuid.uuid4().hex}
        return jwt.encode({k: v for k, v in claims.items() if v is not None}, self.secret, algorithm="HS256",
                          headers={"typ": "mcp-identity+jwt"})

    def verify(self, assertion: str) -> dict:
        """For upstream servers written in Python: the claims, or jwt.PyJWTError."""
        return jwt.decode(assertion, self.secret, algorithms=["HS256"], audience=self.audience, issuer=self.issuer,
                          options={"require": ["exp", "iat", "sub"]})
