"""Access-token verification for an MCP server (a protected resource).

``TokenVerifier`` checks RFC 9068 JWT access tokens locally against the issuer's JWKS:
- the JWKS location comes from the issuer's metadata (RFC 8414, then OIDC discovery), whose ``issuer``
  must equal the configured issuer byte for byte;
- keys are cached for the JWKS response's ``Cache-Control: max-age`` (bounded by ``min_cache_seconds``
  and ``max_cache_seconds``; ``default_cache_seconds`` without one), then fetched again before the next
  verification: a key the issuer removed stops being accepted within that time. If the refresh fails
  the guard fails closed (GuardError) rather than trust keys it can no longer confirm;
- a token with an unknown ``kid`` refreshes at once (a rotation: the first token of a new key must not
  fail), if its unverified ``iss`` names this issuer (junk and other issuers' tokens never reach it), the
  last such refresh is at least ``min_refresh_gap`` seconds old and fewer than ``unknown_kid_refreshes`` such
  refreshes ran in the last ``refresh_interval`` seconds. Refreshes are single-flight: concurrent
  unknown kids share one fetch. So two "Rotate now" a second apart fail no validation, while a flood of
  made-up ``kid`` values costs the issuer at most one fetch a gap and a few per interval: the server
  cannot become an amplifier against the issuer;
- only asymmetric algorithms on an allow-list are accepted (``none`` and HMAC never, so a public key
  cannot be abused as an HMAC secret), and the key's own type must match the algorithm;
- ``typ`` must be ``at+jwt``; ``iss`` must be the issuer; ``aud`` must contain this resource;
  ``exp`` is required and ``exp``/``nbf``/``iat`` are checked with a small leeway; tokens larger than
  ``max_token_bytes`` are refused before any parsing.

``IntrospectionVerifier`` asks the issuer instead (RFC 7662), for resources where a revocation must bite
at once; answers are cached for a few seconds.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import jwt
from jwt.algorithms import get_default_algorithms

from .errors import GuardError, TokenError

DEFAULT_ALGORITHMS = ("RS256", "ES256")
_ASYMMETRIC = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
_KTY_OF_ALG = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
MAX_DOCUMENT_BYTES = 256 * 1024


@dataclass(frozen=True)
class VerifiedToken:
    """What the application learns about the caller; the raw token is never part of it."""

    subject: str | None
    client_id: str | None
    scopes: frozenset[str]
    issuer: str
    audience: tuple[str, ...]
    expires_at: int | None
    token_id: str | None
    claims: dict[str, Any] = field(repr=False, compare=False)

    def has_scopes(self, needed) -> bool:
        return set(needed) <= self.scopes


def metadata_urls(issuer: str) -> list[str]:
    """Where an issuer's metadata lives: RFC 8414 path insertion, then OIDC path appending."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    origin = (parts.scheme, parts.netloc)
    return [urlunsplit((*origin, "/.well-known/oauth-authorization-server" + path, "", "")),
            urlunsplit((*origin, "/.well-known/openid-configuration" + path, "", "")),
            urlunsplit((*origin, path + "/.well-known/openid-configuration", "", ""))]


async def fetch_json(http: httpx.AsyncClient, url: str, **kwargs) -> dict:
    return (await fetch_json_with_headers(http, url, **kwargs))[0]


def cache_lifetime(cache_control: str | None) -> float | None:
    """Seconds from a Cache-Control header: 0 for no-store / no-cache, None when it says nothing."""
    directives = [d.strip().lower() for d in (cache_control or "").split(",")]
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    for directive in directives:
        name, _, value = directive.partition("=")
        if name.strip() == "max-age" and value.strip().strip('"').isdigit():
            return float(value.strip().strip('"'))
    return None


async def fetch_json_with_headers(http: httpx.AsyncClient, url: str, **kwargs) -> tuple[dict, httpx.Headers]:
    try:
        response = await http.request(kwargs.pop("method", "GET"), url, headers={"Accept": "application/json"},
                                      **kwargs)
    except httpx.HTTPError as exc:
        raise GuardError(f"could not reach {url}: {exc.__class__.__name__}") from exc
    if response.status_code != 200:
        raise GuardError(f"{url} answered HTTP {response.status_code}")
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise GuardError(f"{url} sent an oversized document")
    try:
        document = response.json()
    except ValueError as exc:
        raise GuardError(f"{url} did not return JSON") from exc
    if not isinstance(document, dict):
        raise GuardError(f"{url} did not return a JSON object")
    return document, response.headers


async def discover_issuer(http: httpx.AsyncClient, issuer: str) -> dict:
    """The issuer's metadata; its ``issuer`` must be identical to the one we trust (RFC 8414 §3.3)."""
    errors = []
    for url in metadata_urls(issuer):
        try:
            document = await fetch_json(http, url)
        except GuardError as exc:
            errors.append(str(exc))
            continue
        if document.get("issuer") != issuer:
            raise GuardError(f"metadata at {url} names issuer {document.get('issuer')!r}, not {issuer!r}")
        return document
    raise GuardError(f"no authorization server metadata for {issuer}: {'; '.join(errors)}")


def _loop_lock(owner, attribute: str) -> asyncio.Lock:
    """An asyncio.Lock for the running loop (a verifier may outlive one loop, e.g. in tests and CLIs)."""
    loop = asyncio.get_running_loop()
    current = getattr(owner, attribute, None)
    if current is None or current[0] is not loop:
        current = (loop, asyncio.Lock())
        setattr(owner, attribute, current)
    return current[1]


class _BaseVerifier:
    def __init__(self, *, issuer: str, resource: str, http: httpx.AsyncClient | None = None,
                 timeout: float = 5.0, max_token_bytes: int = 8192):
        if not issuer or not resource:
            raise GuardError("a verifier needs the issuer it trusts and the resource URI it protects")
        self.issuer = issuer
        self.resource = resource
        self.max_token_bytes = max_token_bytes
        self._http = http or httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._metadata: dict | None = None

    async def metadata(self) -> dict:
        if self._metadata is None:
            self._metadata = await discover_issuer(self._http, self.issuer)
        return self._metadata

    def _check_size(self, token: str) -> None:
        if not token or len(token) > self.max_token_bytes:
            raise TokenError(f"the access token is empty or larger than {self.max_token_bytes} bytes")

    async def aclose(self) -> None:
        await self._http.aclose()


class TokenVerifier(_BaseVerifier):
    """Verifies JWT access tokens for one resource, against one issuer's JWKS."""

    def __init__(self, *, issuer: str, resource: str, algorithms=DEFAULT_ALGORITHMS, jwks_uri: str | None = None,
                 leeway: int = 30, refresh_interval: float = 30.0, unknown_kid_refreshes: int = 3,
                 min_refresh_gap: float = 1.0, http: httpx.AsyncClient | None = None,
                 timeout: float = 5.0, max_token_bytes: int = 8192, default_cache_seconds: float = 300.0,
                 min_cache_seconds: float = 5.0, max_cache_seconds: float = 300.0):
        super().__init__(issuer=issuer, resource=resource, http=http, timeout=timeout,
                         max_token_bytes=max_token_bytes)
        bad = set(algorithms) - _ASYMMETRIC
        if bad:
            raise GuardError(f"algorithm(s) {', '.join(sorted(bad))} are not allowed: only asymmetric signatures "
                             "can be verified without sharing the issuer's secret")
        self.algorithms = tuple(algorithms)
        self.leeway = leeway
        self.refresh_interval = refresh_interval
        self.unknown_kid_refreshes = unknown_kid_refreshes
        self.min_refresh_gap = min_refresh_gap
        self._unknown_kid_refreshed: deque[float] = deque()  # when each recent unknown-kid refresh ran
        self._jwks_uri = jwks_uri
        self._keys: dict[str, Any] = {}   # kid -> jwt.PyJWK
        self._fetched_at = 0.0
        self._expires_at = 0.0  # monotonic time after which the key set is fetched again
        self._generation = 0
        self.default_cache_seconds = default_cache_seconds
        self.min_cache_seconds = min_cache_seconds
        self.max_cache_seconds = max_cache_seconds
        self.jwks_fetches = 0
        implementations = get_default_algorithms()
        self._implementations = {alg: implementations[alg] for alg in self.algorithms}

    async def jwks_uri(self) -> str:
        if self._jwks_uri is None:
            uri = (await self.metadata()).get("jwks_uri")
            if not isinstance(uri, str) or not uri:
                raise GuardError(f"issuer {self.issuer} publishes no jwks_uri")
            self._jwks_uri = uri
        return self._jwks_uri

    async def _refresh(self) -> None:
        generation = self._generation
        async with _loop_lock(self, "_refresh_lock"):
            if self._generation != generation:
                return  # someone refreshed while we waited
            self._fetched_at = time.monotonic()
            self.jwks_fetches += 1
            try:
                document, headers = await fetch_json_with_headers(self._http, await self.jwks_uri())
            except GuardError:
                self._keys, self._expires_at = {}, 0.0  # fail closed: keys that cannot be confirmed are not used
                self._generation += 1
                raise
            keys = {}
            for entry in document.get("keys", []):
                if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or "kid" not in entry:
                    continue
                try:
                    keys[entry["kid"]] = jwt.PyJWK(entry)
                except (jwt.PyJWKError, jwt.InvalidKeyError, KeyError, ValueError, TypeError):
                    continue  # a key we cannot use (unknown kty/alg) is skipped, not fatal
            lifetime = cache_lifetime(headers.get("cache-control"))
            lifetime = self.default_cache_seconds if lifetime is None else lifetime
            lifetime = min(max(lifetime, self.min_cache_seconds), self.max_cache_seconds)
            self._keys, self._expires_at = keys, self._fetched_at + lifetime
            self._generation += 1

    @property
    def keys_expire_in(self) -> float:
        """Seconds until the cached key set is fetched again (negative: it will be, at the next token)."""
        return self._expires_at - time.monotonic()

    def _refresh_lock_held(self) -> bool:
        current = getattr(self, "_refresh_lock", None)
        return current is not None and current[0] is asyncio.get_running_loop() and current[1].locked()

    def _may_refresh_for_unknown_kid(self, token: str) -> bool:
        """Whether an unknown kid may fetch the JWKS now; when it may, the refresh is counted here, before
        the fetch, so that concurrent unknown kids do not each pass the check."""
        if _unverified_issuer(token) != self.issuer:
            return False  # not a token of this issuer whatever its signature: no key of ours can help
        now = time.monotonic()
        recent = self._unknown_kid_refreshed
        while recent and now - recent[0] >= self.refresh_interval:
            recent.popleft()
        if recent and now - recent[-1] < self.min_refresh_gap or len(recent) >= self.unknown_kid_refreshes:
            return False
        recent.append(now)
        return True

    async def _key_for(self, kid: str, token: str = ""):
        expired = time.monotonic() >= self._expires_at
        if expired:
            await self._refresh()  # expired (or never fetched): what the issuer publishes now
        key = self._keys.get(kid)
        if key is None and not expired:
            if self._refresh_lock_held():
                await self._refresh()  # a refresh is under way: wait for it (single-flight), then look again
                key = self._keys.get(kid)
            if key is None and self._may_refresh_for_unknown_kid(token):
                await self._refresh()
                key = self._keys.get(kid)
        if key is None:
            raise TokenError("the token was signed with a key this issuer does not publish")
        return key

    def _header(self, token: str) -> dict:
        # Only the header segment is decoded here (PyJWT's get_unverified_header decodes all three); the
        # whole token is parsed strictly by jwt.decode once the key is known.
        segments = token.split(".")
        try:
            if len(segments) != 3:
                raise ValueError("a JWS has three segments")
            header = json.loads(base64.urlsafe_b64decode(segments[0] + "=" * (-len(segments[0]) % 4)))
            if not isinstance(header, dict):
                raise ValueError("the header is not an object")
        except (ValueError, UnicodeDecodeError) as exc:
            raise TokenError("the access token is not a well-formed JWT") from exc
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise TokenError(f"tokens signed with {str(alg)[:20]!r} are not accepted")
        typ = str(header.get("typ", "")).lower()
        if typ not in ("at+jwt", "application/at+jwt"):
            raise TokenError("the token is not a JWT access token (typ must be at+jwt, RFC 9068)")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenError("the token header names no key (kid)")
        return header

    def _decode(self, token: str, header: dict, key) -> VerifiedToken:
        alg = header["alg"]
        kty = _KTY_OF_ALG.get(alg[:2])
        jwk_alg = key._jwk_data.get("alg")
        if key.key_type != kty or (jwk_alg and jwk_alg != alg):
            raise TokenError("the token's algorithm does not match its key")
        try:
            claims = jwt.decode(token, key.key, algorithms=[alg], audience=self.resource, issuer=self.issuer,
                                leeway=self.leeway, options={"require": ["exp", "iss", "aud"], "verify_iat": True})
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("the access token has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenError(f"the access token is not meant for this resource ({self.resource})") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenError("the access token was issued by another authorization server") from exc
        except jwt.ImmatureSignatureError as exc:
            raise TokenError("the access token is not valid yet") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"the access token lacks the {exc.claim!r} claim") from exc
        except jwt.PyJWTError as exc:
            raise TokenError("the access token's signature or claims are invalid") from exc
        return _verified(claims)

    async def verify(self, token: str) -> VerifiedToken:
        """The verified token, or TokenError. Never another exception for any token input; GuardError
        only when the issuer cannot be reached (a server-side problem)."""
        self._check_size(token)
        header = self._header(token)
        key = await self._key_for(header["kid"], token)
        return self._decode(token, header, key)


def _unverified_issuer(token: str):
    """The ``iss`` a token claims, before any check (None when its payload is not a JSON object)."""
    try:
        segment = token.split(".")[1]
        payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, ValueError, UnicodeDecodeError):
        return None
    return payload.get("iss") if isinstance(payload, dict) else None


def _verified(claims: dict) -> VerifiedToken:
    aud = claims.get("aud")
    scope = claims.get("scope", "")
    if isinstance(scope, list):
        scope = " ".join(str(s) for s in scope)
    return VerifiedToken(
        subject=claims.get("sub"),
        client_id=claims.get("client_id") or claims.get("azp"),
        scopes=frozenset(str(scope).split()),
        issuer=claims.get("iss", ""),
        audience=tuple(aud) if isinstance(aud, list) else ((aud,) if aud else ()),
        expires_at=claims.get("exp"),
        token_id=claims.get("jti"),
        claims=claims,
    )


class IntrospectionVerifier(_BaseVerifier):
    """RFC 7662 introspection for resources that need revocation to take effect at once. Answers are
    cached for ``cache_seconds`` (never past the token's expiry), keyed by a digest of the token."""

    def __init__(self, *, issuer: str, resource: str, client_id: str, client_secret: str,
                 introspection_endpoint: str | None = None, cache_seconds: float = 5.0,
                 http: httpx.AsyncClient | None = None, timeout: float = 5.0, max_token_bytes: int = 8192,
                 max_cache_entries: int = 10000):
        super().__init__(issuer=issuer, resource=resource, http=http, timeout=timeout,
                         max_token_bytes=max_token_bytes)
        self._endpoint = introspection_endpoint
        self._auth = (client_id, client_secret)
        self.cache_seconds = cache_seconds
        self.max_cache_entries = max_cache_entries
        self._cache: dict[str, tuple[float, VerifiedToken | None]] = {}
        self.introspections = 0

    async def endpoint(self) -> str:
        if self._endpoint is None:
            endpoint = (await self.metadata()).get("introspection_endpoint")
            if not isinstance(endpoint, str) or not endpoint:
                raise GuardError(f"issuer {self.issuer} publishes no introspection_endpoint")
            self._endpoint = endpoint
        return self._endpoint

    async def verify(self, token: str) -> VerifiedToken:
        self._check_size(token)
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.time()
        cached = self._cache.get(digest)
        if cached and cached[0] > now:
            result = cached[1]
        else:
            self.introspections += 1
            answer = await fetch_json(self._http, await self.endpoint(), method="POST", auth=self._auth,
                                      data={"token": token, "token_type_hint": "access_token"})
            result = self._check(answer)
            if len(self._cache) >= self.max_cache_entries:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                if len(self._cache) >= self.max_cache_entries:
                    self._cache.clear()
            until = now + self.cache_seconds
            if result is not None and result.expires_at:
                until = min(until, result.expires_at)
            self._cache[digest] = (until, result)
        if result is None:
            raise TokenError("the access token is not active")
        if result.expires_at and result.expires_at < now:
            raise TokenError("the access token has expired")
        return result

    def _check(self, answer: dict) -> VerifiedToken | None:
        if answer.get("active") is not True:
            return None
        if answer.get("iss", self.issuer) != self.issuer:
            return None
        aud = answer.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self.resource not in audiences:
            return None
        return _verified({**answer, "iss": self.issuer})
