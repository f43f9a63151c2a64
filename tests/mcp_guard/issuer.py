"""A local token issuer for mcp_guard tests: RS256 and ES256 keys, metadata and JWKS served over HTTP by a
DocumentServer, and a mint() that signs RFC 9068 access tokens (or deliberately broken ones)."""

from __future__ import annotations

import functools
import json
import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa


@functools.cache
def _keys_of(slug: str) -> dict:
    """One key pair per issuer slug for the whole session: RSA generation is slow on a shared CPU."""
    return {"rsa-1": ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            "ec-1": ("ES256", ec.generate_private_key(ec.SECP256R1()))}


class LocalIssuer:
    def __init__(self, server, slug: str = "local"):
        self.server = server
        self.issuer = f"{server.url}/t/{slug}"
        self.jwks_path = f"/t/{slug}/jwks"
        self.keys = dict(_keys_of(slug))
        server.put(f"/.well-known/oauth-authorization-server/t/{slug}",
                   {"issuer": self.issuer, "jwks_uri": server.url + self.jwks_path,
                    "introspection_endpoint": f"{server.url}/t/{slug}/introspect"})
        self.publish()

    def public_jwk(self, kid: str) -> dict:
        alg, key = self.keys[kid]
        algorithm = jwt.algorithms.RSAAlgorithm if alg.startswith("RS") else jwt.algorithms.ECAlgorithm
        return {**json.loads(algorithm.to_jwk(key.public_key())), "kid": kid, "alg": alg, "use": "sig"}

    def publish(self):
        self.server.put(self.jwks_path, {"keys": [self.public_jwk(kid) for kid in self.keys]})

    @property
    def jwks_hits(self) -> int:
        return self.server.hits.get(self.jwks_path, 0)

    def mint(self, resource: str, *, kid: str = "rsa-1", scope: str = "", headers: dict | None = None,
             lifetime: int = 300, **claims) -> str:
        alg, key = self.keys[kid]
        now = int(time.time())
        payload = {"iss": self.issuer, "sub": "user-1", "aud": resource, "client_id": "client-1", "scope": scope,
                   "iat": now, "exp": now + lifetime, "jti": uuid.uuid4().hex, **claims}
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key, algorithm=alg, headers={"typ": "at+jwt", "kid": kid, **(headers or {})})
