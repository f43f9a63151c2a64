"""Client metadata (RFC 7591 §2) checked and normalised, for DCR requests, RFC 7592 updates and CIMD
documents alike. Every refusal is a ``RegistrationError`` carrying the RFC 7591 §3.2.2 error code and a
description saying what to send instead."""

from __future__ import annotations

from urllib.parse import urlsplit

from mcp_registry.uris import is_loopback_host

from ..clients.services import _check_redirect_uri
from ..errors import OAuthServiceError
from ..models import AuthMethod

MAX_REDIRECT_URIS = 20
MAX_URI_LENGTH = 2000
MAX_NAME_LENGTH = 200
MAX_SCOPE_LENGTH = 2000
SUPPORTED_GRANTS = ("authorization_code", "refresh_token", "client_credentials")
SUPPORTED_AUTH_METHODS = tuple(AuthMethod.values)
CIMD_AUTH_METHODS = (AuthMethod.NONE, AuthMethod.PRIVATE_KEY_JWT)
URI_FIELDS = ("client_uri", "logo_uri", "tos_uri", "policy_uri", "jwks_uri")
TEXT_FIELDS = ("client_name", "software_id", "software_version")


class RegistrationError(Exception):
    """A registration refused with an RFC 7591 error code (or an RFC 6749/6750 one) and its HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400, headers: dict | None = None):
        super().__init__(description)
        self.error, self.description, self.status, self.headers = error, description, status, headers or {}


def invalid(description: str) -> RegistrationError:
    return RegistrationError("invalid_client_metadata", description)


def _string(metadata: dict, name: str, limit: int) -> str:
    value = metadata.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise invalid(f"{name} must be a string of at most {limit} characters")
    return value.strip()


def _string_list(metadata: dict, name: str, default: list[str]) -> list[str]:
    value = metadata.get(name)
    if value is None:
        return list(default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or len(value) > 20:
        raise invalid(f"{name} must be an array of at most 20 strings")
    return list(dict.fromkeys(value))


def _https_uri(name: str, uri: str) -> str:
    parts = urlsplit(uri)
    if parts.scheme != "https" or not parts.hostname or "#" in uri or any(c.isspace() for c in uri):
        raise invalid(f"{name} must be an https URL without fragment, not '{uri[:100]}'")
    return uri


def has_private_use_scheme(redirect_uris: list[str]) -> bool:
    return any(urlsplit(u).scheme not in ("http", "https") for u in redirect_uris)


def redirect_uris_of(metadata: dict, *, required: bool) -> list[str]:
    uris = metadata.get("redirect_uris")
    if uris is None:
        if required:
            raise RegistrationError("invalid_redirect_uri", "redirect_uris is required for the authorization_code "
                                                            "grant: list where the client receives the code")
        return []
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        raise RegistrationError("invalid_redirect_uri", "redirect_uris must be an array of strings")
    if not 0 < len(uris) <= MAX_REDIRECT_URIS:
        raise RegistrationError("invalid_redirect_uri", f"register between 1 and {MAX_REDIRECT_URIS} redirect URIs")
    checked = []
    for uri in uris:
        if len(uri) > MAX_URI_LENGTH:
            raise RegistrationError("invalid_redirect_uri", f"redirect URI longer than {MAX_URI_LENGTH} characters")
        try:
            uri = _check_redirect_uri(uri)
        except OAuthServiceError as exc:
            raise RegistrationError("invalid_redirect_uri", str(exc)) from exc
        checked.append(uri)
    return list(dict.fromkeys(checked))


def loopback_only(redirect_uris: list[str]) -> bool:
    hosts = [urlsplit(u).hostname for u in redirect_uris]
    return bool(hosts) and all(h and is_loopback_host(h) for h in hosts)


def _auth_methods(metadata: dict, *, cimd: bool, has_keys: bool) -> tuple[list[str], list[str]]:
    """(granted methods, preferred first; requested methods left out). DCR names one method (RFC 7591 §2,
    default client_secret_basic); a CIMD document may list several (SEP-3149: ``token_endpoint_auth_methods``,
    else ``token_endpoint_auth_method``, none listed means "none"). A document can never hold a secret, so
    its methods are intersected with none and private_key_jwt; private_key_jwt needs the keys."""
    if cimd and metadata.get("token_endpoint_auth_methods") is not None:
        requested = _string_list(metadata, "token_endpoint_auth_methods", ["none"])
    else:
        single = metadata.get("token_endpoint_auth_method")
        if single is not None and (not isinstance(single, str) or len(single) > 100):
            raise invalid("token_endpoint_auth_method must be a string")
        requested = [single or ("none" if cimd else AuthMethod.SECRET_BASIC)]
    usable = CIMD_AUTH_METHODS if cimd else SUPPORTED_AUTH_METHODS
    # A document listing private_key_jwt beside another method but no keys is granted the other one; a DCR
    # body asking for private_key_jwt without keys is refused below (it meant to sign).
    granted = [m for m in requested if m in usable and (m != AuthMethod.PRIVATE_KEY_JWT or has_keys or not cimd)]
    if not granted and cimd:
        raise invalid(f"none of the token endpoint authentication methods {', '.join(requested)[:200]} works for a "
                      "client ID metadata document (it cannot hold a shared secret): list \"none\", or "
                      "\"private_key_jwt\" with jwks_uri or jwks")
    if not granted:  # RFC 7591 §3.2.1: the server replaces what it does not support
        granted = [AuthMethod.PRIVATE_KEY_JWT if has_keys else AuthMethod.SECRET_BASIC]
    if AuthMethod.NONE in granted:  # a public client that may also sign: "none" decides the client type
        granted = [AuthMethod.NONE] + [m for m in granted if m != AuthMethod.NONE]
    return granted, [m for m in requested if m not in granted]


def normalise(metadata, *, cimd: bool = False) -> dict:
    """Checks RFC 7591 metadata and returns what is granted (defaults filled in, unknown fields dropped).

    Read liberally, grant strictly (RFC 7591 §3.2.1): grant types, response types and authentication
    methods the platform does not support are left out, and listed under ``not_granted`` so the client,
    the console and the API see what was asked and not given. Only what is malformed or dangerous is
    refused (redirect URIs, jwks with jwks_uri, admin scopes, a secret in a document, nothing usable left).

    ``cimd``: rules of Client ID Metadata Documents (public clients or private_key_jwt with keys; never a
    client secret)."""
    if not isinstance(metadata, dict):
        raise invalid("the client metadata must be a JSON object")
    application_type = metadata.get("application_type", "web")
    if application_type not in ("web", "native"):
        raise invalid('application_type must be "web" or "native"')
    if cimd and ("client_secret" in metadata or "client_secret_expires_at" in metadata):
        raise invalid("a client ID metadata document must not contain client_secret")
    has_keys = metadata.get("jwks") is not None or bool(metadata.get("jwks_uri"))
    auth_methods, methods_dropped = _auth_methods(metadata, cimd=cimd, has_keys=has_keys)
    auth_method = auth_methods[0]
    requested_grants = _string_list(metadata, "grant_types", ["authorization_code"])
    grant_types = [g for g in requested_grants if g in SUPPORTED_GRANTS]
    if "refresh_token" in grant_types and "authorization_code" not in grant_types:
        grant_types.remove("refresh_token")  # a refresh token only ever comes from an authorization
    if "client_credentials" in grant_types and (cimd or auth_method == AuthMethod.NONE):
        grant_types.remove("client_credentials")  # a machine token needs a client that authenticates
    if not grant_types:
        raise invalid(f"none of the grant_types {', '.join(requested_grants)[:200]} can be granted here; use "
                      "authorization_code (with refresh_token), or client_credentials for a confidential client")
    requested_responses = _string_list(metadata, "response_types",
                                       ["code"] if "authorization_code" in grant_types else [])
    response_types = ["code"] if "authorization_code" in grant_types else []
    out = {"application_type": application_type, "grant_types": grant_types, "response_types": response_types,
           "token_endpoint_auth_method": auth_method}
    if cimd:
        out["token_endpoint_auth_methods"] = auth_methods
    not_granted = {"grant_types": [g for g in requested_grants if g not in grant_types],
                   "response_types": [r for r in requested_responses if r not in response_types],
                   "token_endpoint_auth_methods": methods_dropped}
    not_granted = {k: v for k, v in not_granted.items() if v}
    if not_granted:
        out["not_granted"] = not_granted
    out["redirect_uris"] = redirect_uris_of(metadata, required="authorization_code" in grant_types)
    if has_private_use_scheme(out["redirect_uris"]):
        # Only an app on the device receives a private-use scheme (RFC 8252 §7.1); a client that said "web"
        # (or nothing, as Cursor does) is registered as what it is.
        out["application_type"] = "native"
    for name in TEXT_FIELDS:
        value = _string(metadata, name, MAX_NAME_LENGTH)
        if value:
            out[name] = value
    for name in URI_FIELDS:
        value = _string(metadata, name, MAX_URI_LENGTH)
        if value:
            out[name] = _https_uri(name, value)
    scope = _string(metadata, "scope", MAX_SCOPE_LENGTH)
    if scope:
        scopes = scope.split()
        if any(len(s) > 100 or not s.isprintable() or s.startswith("admin:") for s in scopes):
            raise invalid("scope must be space-separated scope names of the tenant's resources (admin scopes "
                          "cannot be registered)")
        out["scope"] = " ".join(dict.fromkeys(scopes))
    jwks = metadata.get("jwks")
    if jwks is not None:
        if not (isinstance(jwks, dict) and isinstance(jwks.get("keys"), list) and 0 < len(jwks["keys"]) <= 10
                and all(isinstance(k, dict) and "kty" in k and "d" not in k for k in jwks["keys"])):
            raise invalid("jwks must be a JWK Set of 1 to 10 public keys: {\"keys\": [{\"kty\": ...}]}")
        if "jwks_uri" in out:
            raise invalid("send jwks or jwks_uri, not both (RFC 7591 §2)")
        out["jwks"] = jwks
    if AuthMethod.PRIVATE_KEY_JWT in auth_methods and not (out.get("jwks") or out.get("jwks_uri")):
        raise invalid("private_key_jwt needs the client's public keys: send jwks_uri (or jwks)")
    contacts = metadata.get("contacts")
    if contacts is not None:
        if not isinstance(contacts, list) or len(contacts) > 10 or not all(
                isinstance(c, str) and len(c) <= 200 for c in contacts):
            raise invalid("contacts must be an array of at most 10 strings")
        out["contacts"] = contacts
    return out


def display_name(metadata: dict) -> str:
    if metadata.get("client_name"):
        return metadata["client_name"]
    hosts = sorted({urlsplit(u).hostname or urlsplit(u).scheme for u in metadata.get("redirect_uris", [])})
    return f"Unnamed client ({', '.join(hosts)[:150]})" if hosts else "Unnamed client"
