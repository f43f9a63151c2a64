"""The relying-party side of OpenID Connect, for one upstream provider at a time.

PyJWT and httpx rather than Authlib (README, "Single sign-on"): the platform already depends on both,
and the checks that matter here (alg allow-list, issuer templates for Entra ID, `azp`, nonce, logout
tokens, per-provider key caches) are a screenful we would have to write around any client library anyway.

Everything here is protocol: no database writes. Every failure is an ``SSOError`` whose ``reason`` is
a stable code for the audit log and whose message finishes the sentence "Your identity provider ...".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote_plus, urlencode, urlsplit

import httpx
import jwt
from django.conf import settings
from django.core.cache import cache

from kit import egress

from .presets import preset_for

# Asymmetric algorithms only: never `none`, never HS* (a public key used as an HMAC secret).
ALLOWED_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
                          "EdDSA"})
LEEWAY_SECONDS = 60
MAX_ID_TOKEN_AGE_SECONDS = 600
METADATA_TTL_SECONDS = 3600
JWKS_REFRESH_MIN_SECONDS = 30  # an unknown kid refetches the JWKS at most this often
MAX_DOCUMENT_BYTES = 512 * 1024
FETCH_DEADLINE_SECONDS = 5.0  # the whole exchange with the provider, not one read
MAX_CONCURRENT_FETCHES = 4  # per process
FAILURE_BACKOFF_SECONDS = 30  # a provider that failed discovery is not asked again by the next sign-in
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


class SSOError(Exception):
    """A sign-in through an identity provider failed; ``reason`` is the audit code."""

    def __init__(self, reason: str, message: str, *, status: int = 400, detail: str = ""):
        super().__init__(message)
        self.reason, self.status, self.detail = reason, status, detail


@dataclass
class MappedClaims:
    subject: str
    email: str
    email_verified: bool
    name: str
    groups: list[str]
    sid: str = ""
    raw: dict = field(default_factory=dict)

    def preview(self) -> dict:
        return {"subject": self.subject, "email": self.email, "email_verified": self.email_verified,
                "name": self.name, "groups": self.groups}


# --- HTTP ---------------------------------------------------------------------------------------------

def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_provider_url(url: str, what: str) -> str:
    """https everywhere; plain http only to loopback where SSO_ALLOW_HTTP_LOOPBACK says so (tests,
    laptops), or where the operator lists networks (EGRESS_ALLOWED_NETWORKS: the egress guard then admits
    http to those networks only)."""
    parts = urlsplit(url or "")
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and (
            (_is_loopback(parts.hostname) and getattr(settings, "SSO_ALLOW_HTTP_LOOPBACK", False))
            or egress.policy().networks):
        return url
    raise SSOError("insecure_url", f"{what} must be an https URL, not '{url[:200]}'")


def egress_policy() -> egress.Policy:
    """The guard's policy for identity providers: SSO_ALLOW_HTTP_LOOPBACK admits loopback,
    SSO_ALLOW_PRIVATE_NETWORKS private networks (never link-local or metadata addresses), on top of the
    operator's EGRESS_ALLOWED_NETWORKS; one deadline and a size cap per fetch."""
    return egress.policy(loopback=bool(getattr(settings, "SSO_ALLOW_HTTP_LOOPBACK", False)),
                         private=bool(getattr(settings, "SSO_ALLOW_PRIVATE_NETWORKS", False)),
                         timeout=FETCH_DEADLINE_SECONDS, max_bytes=MAX_DOCUMENT_BYTES)


# Fetches in flight in this process: sign-in pages are anonymous, and a slow provider must not take every
# worker thread with it (the rest wait for nothing: they get "try again" at once).
_fetch_slots = threading.BoundedSemaphore(MAX_CONCURRENT_FETCHES)


def _request(method: str, url: str, what: str, **kwargs) -> egress.Response:
    """One call to the provider through the egress guard (a tenant admin typed these URLs)."""
    check_provider_url(url, what)
    if not _fetch_slots.acquire(blocking=False):
        raise SSOError("idp_unreachable", "is busy answering other sign-ins; try again in a moment", status=502)
    try:
        return egress.fetch(method, url, egress_policy(), **kwargs)
    except egress.EgressError as exc:
        if exc.reason == "refused":
            raise SSOError("insecure_url", f"{what}: {exc}: inside the platform's network; the operator can "
                           "allow private networks (SSO_ALLOW_PRIVATE_NETWORKS)", status=502) from exc
        if exc.reason == "too_large":
            raise SSOError("idp_bad_response", f"sent an oversized {what}", status=502) from exc
        raise SSOError("idp_unreachable", f"could not be reached at {url} ({exc})", status=502) from exc
    finally:
        _fetch_slots.release()


def _json(response: egress.Response, what: str) -> dict:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise SSOError("idp_bad_response", f"sent a {what} that is not a JSON object (HTTP {response.status_code})",
                       status=502)
    return body


def _cache_key(kind: str, url: str) -> str:
    return f"sso:{kind}:{hashlib.sha256(url.encode()).hexdigest()}"


# --- Discovery and keys -------------------------------------------------------------------------------

REQUIRED_METADATA = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


def _fetch_metadata(idp) -> dict:
    response = _request("GET", idp.discovery_url, "discovery URL", headers={"Accept": "application/json"})
    if response.status_code != 200:
        raise SSOError("idp_bad_response", f"answered HTTP {response.status_code} for its discovery document "
                       f"{idp.discovery_url}", status=502)
    metadata = _json(response, "discovery document")
    missing = [name for name in REQUIRED_METADATA if not isinstance(metadata.get(name), str)]
    if missing:
        raise SSOError("idp_bad_response", f"has a discovery document without {', '.join(missing)}", status=502)
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
        if metadata.get(name):
            check_provider_url(metadata[name], name)
    return metadata


def discover(idp, *, fresh: bool = False) -> dict:
    """The provider's OpenID configuration, cached for an hour; ``fresh`` for "test connection".

    An anonymous sign-in page triggers this, so a slow or failing provider must not cost a fetch per
    visitor: one fetch per provider at a time (platform-wide, through the cache), and after a failure the
    next FAILURE_BACKOFF_SECONDS of sign-ins get the failure without asking the provider again. (502 like
    every other failure of the provider: the visitor sees "your identity provider could not be reached".)"""
    key = _cache_key("metadata", idp.discovery_url)
    metadata = None if fresh else cache.get(key)
    if metadata is None:
        if not fresh and cache.get(key + ":failed"):
            raise SSOError("idp_unreachable", "could not be reached a moment ago; try again shortly", status=502)
        if not cache.add(key + ":fetching", 1, int(FETCH_DEADLINE_SECONDS) + 1):
            raise SSOError("idp_unreachable", "is being contacted for another sign-in; try again in a moment",
                           status=502)
        try:
            metadata = _fetch_metadata(idp)
        except SSOError:
            cache.set(key + ":failed", 1, FAILURE_BACKOFF_SECONDS)
            raise
        finally:
            cache.delete(key + ":fetching")
        cache.set(key, metadata, METADATA_TTL_SECONDS)
        cache.delete(key + ":failed")
    expected = idp.issuer or metadata["issuer"]
    if metadata["issuer"] != expected:
        raise SSOError("issuer_mismatch", f"calls itself '{metadata['issuer']}' but is configured as '{expected}'",
                       status=502)
    return metadata


def _fetch_jwks(jwks_uri: str) -> dict:
    response = _request("GET", jwks_uri, "JWKS", headers={"Accept": "application/json"})
    if response.status_code != 200:
        raise SSOError("idp_bad_response", f"answered HTTP {response.status_code} for its keys at {jwks_uri}",
                       status=502)
    jwks = _json(response, "JWKS")
    if not isinstance(jwks.get("keys"), list):
        raise SSOError("idp_bad_response", "published a JWKS without keys", status=502)
    entry = {"keys": jwks["keys"], "fetched_at": time.time()}
    cache.set(_cache_key("jwks", jwks_uri), entry, METADATA_TTL_SECONDS)
    return entry


def refresh_jwks(jwks_uri: str) -> list:
    return _fetch_jwks(jwks_uri)["keys"]


def _select_key(keys: list, kid: str | None, alg: str):
    candidates = [k for k in keys if isinstance(k, dict) and k.get("kty") != "oct"
                  and k.get("use", "sig") == "sig" and k.get("alg", alg) == alg]
    if kid is not None:
        candidates = [k for k in candidates if k.get("kid") == kid]
    elif len(candidates) != 1:
        return None  # without a kid only an unambiguous key will do
    for jwk in candidates:
        try:
            return jwt.PyJWK(jwk, algorithm=alg).key
        except jwt.PyJWTError:
            continue
    return None


def signing_key(jwks_uri: str, kid: str | None, alg: str):
    """The provider's key for ``kid``; an unknown kid refetches the JWKS (key rotation), rate-limited."""
    entry = cache.get(_cache_key("jwks", jwks_uri)) or _fetch_jwks(jwks_uri)
    key = _select_key(entry["keys"], kid, alg)
    if key is None and time.time() - entry["fetched_at"] > JWKS_REFRESH_MIN_SECONDS:
        key = _select_key(_fetch_jwks(jwks_uri)["keys"], kid, alg)
    if key is None:
        raise SSOError("id_token.unknown_key", f"signed a token with a key it does not publish (kid {kid!r})")
    return key


# --- Authorization request ----------------------------------------------------------------------------

def new_flow_secrets() -> dict:
    """state, nonce and the PKCE verifier (RFC 7636, 43+ characters) for one sign-in attempt."""
    return {"state": secrets.token_urlsafe(32), "nonce": secrets.token_urlsafe(32),
            "verifier": secrets.token_urlsafe(48)}


def pkce_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorization_url(idp, metadata: dict, *, redirect_uri: str, flow: dict, login_hint: str = "") -> str:
    params = {
        "response_type": "code",
        "client_id": idp.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(dict.fromkeys(["openid", *idp.scope_list])),
        "state": flow["state"],
        "nonce": flow["nonce"],
        "code_challenge": pkce_challenge(flow["verifier"]),
        "code_challenge_method": "S256",
    }
    if idp.response_mode != "query":
        params["response_mode"] = idp.response_mode
    if login_hint:
        params["login_hint"] = login_hint[:254]
    endpoint = metadata["authorization_endpoint"]
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"


def check_response_issuer(idp, metadata: dict, iss: str | None) -> None:
    """RFC 9207: a provider that advertises `iss` in responses must send its own; anyone may send it."""
    if iss is None:
        if metadata.get("authorization_response_iss_parameter_supported"):
            raise SSOError("issuer_mismatch", "sent an authorization response without its `iss` although it "
                           "promises one (RFC 9207): the response may come from another provider")
        return
    if iss != metadata["issuer"]:
        raise SSOError("issuer_mismatch", f"response names issuer '{iss[:200]}', not '{metadata['issuer']}' "
                       "(a mix-up attack or a misconfigured provider)")


# --- Token request ------------------------------------------------------------------------------------

def _client_assertion(idp, audience: str, private_key_pem: bytes) -> str:
    now = int(time.time())
    claims = {"iss": idp.client_id, "sub": idp.client_id, "aud": audience, "jti": str(uuid.uuid4()),
              "iat": now, "exp": now + 60}
    return jwt.encode(claims, private_key_pem, algorithm="RS256", headers={"kid": idp.private_key_id})


def client_authentication(idp, metadata: dict, *, secret: str | None, private_key_pem: bytes | None):
    """(httpx auth, extra form fields) for the configured token endpoint authentication method."""
    method = idp.client_auth_method
    if method == "private_key_jwt":
        assertion = _client_assertion(idp, metadata["token_endpoint"], private_key_pem)
        return None, {"client_id": idp.client_id, "client_assertion": assertion,
                      "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    if method == "client_secret_post":
        return None, {"client_id": idp.client_id, "client_secret": secret or ""}
    # RFC 6749 §2.3.1: both parts form-urlencoded before Basic encoding.
    return httpx.BasicAuth(quote_plus(idp.client_id), quote_plus(secret or "")), {}


def exchange_code(idp, metadata: dict, *, code: str, verifier: str, redirect_uri: str, secret: str | None,
                  private_key_pem: bytes | None) -> dict:
    auth, extra = client_authentication(idp, metadata, secret=secret, private_key_pem=private_key_pem)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": verifier, **extra}
    response = _request("POST", metadata["token_endpoint"], "token endpoint", data=data, auth=auth,
                        headers={"Accept": "application/json"})
    body = _json(response, "token response")
    if response.status_code != 200:
        error = str(body.get("error", "error"))[:80]
        description = str(body.get("error_description", ""))[:200]
        hint = " (the client id or secret configured here is probably wrong)" if error == "invalid_client" else ""
        raise SSOError("token_request_failed", f"refused the code exchange: {error}"
                       f"{': ' + description if description else ''}{hint}", status=502, detail=error)
    if not isinstance(body.get("id_token"), str):
        raise SSOError("id_token.missing", "answered without an ID token (is `openid` among the scopes?)",
                       status=502)
    return body


# --- Token validation ---------------------------------------------------------------------------------

def _header(token: str, kind: str) -> dict:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise SSOError(f"{kind}.malformed", "sent a token that is not a JWT") from exc
    alg = header.get("alg")
    if alg not in ALLOWED_ALGS:
        raise SSOError(f"{kind}.alg_not_allowed", f"signed a token with '{alg}', which is not accepted "
                       f"(allowed: {', '.join(sorted(ALLOWED_ALGS))})")
    return header


def _expected_issuer(idp, metadata: dict, unverified_tid: str | None) -> set[str]:
    template = idp.issuer or metadata["issuer"]
    if "{tenantid}" in template:
        # Entra ID multi-tenant: the token's own directory goes into the template, and that directory
        # must be one the tenant admin allowed; otherwise any Entra directory in the world could sign in.
        if not unverified_tid or unverified_tid not in set(idp.allowed_tenant_ids or ()):
            raise SSOError("id_token.directory_not_allowed",
                           f"signed in a user of directory '{unverified_tid}', which is not in this provider's "
                           "allowed directories")
        template = template.replace("{tenantid}", unverified_tid)
    return {template, *preset_for(idp.preset).issuer_aliases}


_JWT_REASONS = [
    (jwt.ExpiredSignatureError, "expired", "sent an expired token (check the clocks on both sides)"),
    (jwt.ImmatureSignatureError, "not_yet_valid", "sent a token issued in the future (check the clocks)"),
    (jwt.InvalidAudienceError, "wrong_audience", "sent a token meant for another client (aud)"),
    (jwt.InvalidSignatureError, "bad_signature", "sent a token whose signature does not verify"),
    (jwt.MissingRequiredClaimError, "missing_claim", "sent a token without a required claim"),
]


def _decode(idp, metadata: dict, token: str, *, required: list[str], kind: str) -> dict:
    header = _header(token, kind)
    key = signing_key(metadata["jwks_uri"], header.get("kid"), header["alg"])
    try:
        claims = jwt.decode(token, key=key, algorithms=[header["alg"]], audience=idp.client_id,
                            leeway=LEEWAY_SECONDS, options={"require": required, "verify_iss": False})
    except jwt.PyJWTError as exc:
        for error_type, code, message in _JWT_REASONS:
            if isinstance(exc, error_type):
                raise SSOError(f"{kind}.{code}", f"{message}: {exc}") from exc
        raise SSOError(f"{kind}.invalid", f"sent an invalid token: {exc}") from exc
    if claims.get("iss") not in _expected_issuer(idp, metadata, claims.get("tid")):
        raise SSOError(f"{kind}.wrong_issuer", f"sent a token from issuer '{str(claims.get('iss'))[:200]}'")
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or iat < time.time() - MAX_ID_TOKEN_AGE_SECONDS - LEEWAY_SECONDS:
        raise SSOError(f"{kind}.stale", "sent a token issued too long ago")
    return claims


def validate_id_token(idp, metadata: dict, token: str, *, nonce: str) -> dict:
    claims = _decode(idp, metadata, token, required=["iss", "sub", "aud", "exp", "iat"], kind="id_token")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != idp.client_id:
        raise SSOError("id_token.wrong_audience", f"sent a token authorized for another party (azp {azp!r})")
    if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise SSOError("id_token.nonce_mismatch", "sent a token that does not answer this sign-in (nonce): "
                       "a replayed or injected token")
    return claims


def fetch_userinfo(metadata: dict, access_token: str, subject: str) -> dict:
    endpoint = metadata.get("userinfo_endpoint")
    if not endpoint:
        raise SSOError("userinfo_unavailable", "has no userinfo endpoint, but this provider is set to read it")
    response = _request("GET", endpoint, "userinfo endpoint",
                        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"})
    if response.status_code != 200:
        raise SSOError("userinfo_failed", f"answered HTTP {response.status_code} at its userinfo endpoint",
                       status=502)
    info = _json(response, "userinfo response")
    if info.get("sub") != subject:  # OIDC Core §5.3.2: otherwise the answer is about someone else
        raise SSOError("userinfo_failed", "answered userinfo about a different subject")
    return info


def validate_logout_token(idp, metadata: dict, token: str) -> dict:
    """OpenID Connect Back-Channel Logout 1.0, §2.6."""
    header = _header(token, "logout_token")
    if header.get("typ") not in (None, "JWT", "logout+jwt"):
        raise SSOError("logout_token.invalid", f"sent a logout token of type {header.get('typ')!r}")
    claims = _decode(idp, metadata, token, required=["iss", "aud", "iat", "jti"], kind="logout_token")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise SSOError("logout_token.invalid", "sent a logout token without the back-channel logout event")
    if "nonce" in claims:
        raise SSOError("logout_token.invalid", "sent a logout token with a nonce (an ID token, not a logout token)")
    if not claims.get("sub") and not claims.get("sid"):
        raise SSOError("logout_token.invalid", "sent a logout token naming neither a subject nor a session")
    return claims


# --- Claims -------------------------------------------------------------------------------------------

def _claim(claims: dict, name: str):
    return claims.get(name) if name else None


def _as_bool(value) -> bool:
    # Apple sends "true"/"false" strings; Entra's xms_edov may be 1/0.
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True or value == 1


def map_claims(idp, claims: dict) -> MappedClaims:
    subject = _claim(claims, idp.claim_subject or "sub")
    if not isinstance(subject, str) or not subject:
        raise SSOError("missing_subject", f"sent no '{idp.claim_subject}' claim to identify the user")
    email = _claim(claims, idp.claim_email)
    email = email.strip().lower() if isinstance(email, str) else ""
    groups = _claim(claims, idp.claim_groups)
    if isinstance(groups, str):
        groups = [groups]
    groups = [str(g) for g in groups] if isinstance(groups, list) else []
    name = _claim(claims, idp.claim_name)
    verified = idp.assume_email_verified or _as_bool(_claim(claims, idp.claim_email_verified))
    raw_names = {idp.claim_subject, idp.claim_email, idp.claim_email_verified, idp.claim_name, idp.claim_groups,
                 "iss", "tid", "hd"}
    return MappedClaims(subject=subject[:255], email=email[:254], email_verified=bool(email and verified),
                        name=name[:150] if isinstance(name, str) else "", groups=groups[:200],
                        sid=str(claims.get("sid", ""))[:255],
                        raw={k: claims[k] for k in sorted(raw_names) if k and k in claims})


def check_domain_claim(idp, claims: dict) -> None:
    """Google Workspace: the `hd` claim, not the e-mail's domain, proves which organisation owns the account."""
    claim = preset_for(idp.preset).domain_claim
    if claim and idp.domains and str(claims.get(claim, "")).lower() not in {d.lower() for d in idp.domains}:
        raise SSOError("domain_not_allowed", f"signed in an account outside {', '.join(idp.domains)} "
                       f"({claim}={claims.get(claim)!r})")

