"""Client metadata (RFC 7591 §2) checked and normalised, for DCR requests, RFC 7592 updates and CIMD
documents alike. Every refusal is a ``RegistrationError`` carrying the RFC 7591 §3.2.2 error code and a
description saying what to send instead."""

from __future__ import annotations

from urllib.parse import urlsplit

from mcp_registry.uris import is_loopback_host

from ..models import AuthMethod
from ..services import OAuthServiceError, _check_redirect_uri

MAX_REDIRECT_URIS = 20
MAX_URI_LENGTH = 2000
MAX_NAME_LENGTH = 200
MAX_SCOPE_LENGTH = 2000
SUPPORTED_GRANTS = ("authorization_code", "refresh_token", "client_credentials")
SUPPORTED_AUTH_METHODS = tuple(AuthMethod.values)
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


def redirect_uris_of(metadata: dict, *, application_type: str, required: bool) -> list[str]:
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
        scheme = urlsplit(uri).scheme
        if scheme not in ("http", "https") and application_type != "native":
            raise RegistrationError("invalid_redirect_uri", f"the private-use scheme of '{uri[:100]}' is for native "
                                                            "apps: register with application_type \"native\"")
        checked.append(uri)
    return list(dict.fromkeys(checked))


def loopback_only(redirect_uris: list[str]) -> bool:
    hosts = [urlsplit(u).hostname for u in redirect_uris]
    return bool(hosts) and all(h and is_loopback_host(h) for h in hosts)


def normalise(metadata, *, cimd: bool = False) -> dict:
    """Checks RFC 7591 metadata and returns it normalised (defaults filled in, unknown fields dropped).

    ``cimd``: rules of Client ID Metadata Documents (public clients or private_key_jwt with keys; never a
    client secret)."""
    if not isinstance(metadata, dict):
        raise invalid("the client metadata must be a JSON object")
    application_type = metadata.get("application_type", "web")
    if application_type not in ("web", "native"):
        raise invalid('application_type must be "web" or "native"')
    grant_types = _string_list(metadata, "grant_types", ["authorization_code"])
    unknown = [g for g in grant_types if g not in SUPPORTED_GRANTS]
    if unknown or not grant_types:
        raise invalid(f"unsupported grant_types {', '.join(unknown)[:200]}; use some of {', '.join(SUPPORTED_GRANTS)} "
                      "(implicit and password do not exist here)")
    response_types = _string_list(metadata, "response_types",
                                  ["code"] if "authorization_code" in grant_types else [])
    if any(r != "code" for r in response_types):
        raise invalid('response_types may only be ["code"] (no implicit or hybrid flows)')
    if ("code" in response_types) != ("authorization_code" in grant_types):
        raise invalid('response_types ["code"] and grant_types "authorization_code" go together')
    if "refresh_token" in grant_types and "authorization_code" not in grant_types:
        raise invalid("refresh_token comes with authorization_code")
    auth_method = metadata.get("token_endpoint_auth_method", "none" if cimd else "client_secret_basic")
    if auth_method not in SUPPORTED_AUTH_METHODS:
        raise invalid(f"token_endpoint_auth_method '{str(auth_method)[:60]}' is not supported; use one of "
                      f"{', '.join(SUPPORTED_AUTH_METHODS)}")
    if cimd and auth_method not in (AuthMethod.NONE, AuthMethod.PRIVATE_KEY_JWT):
        raise invalid("a client ID metadata document cannot use a shared secret: use \"none\" or "
                      "\"private_key_jwt\" with jwks_uri")
    if cimd and ("client_secret" in metadata or "client_secret_expires_at" in metadata):
        raise invalid("a client ID metadata document must not contain client_secret")
    if "client_credentials" in grant_types and auth_method == AuthMethod.NONE:
        raise invalid("client_credentials needs a confidential client: pick a token_endpoint_auth_method "
                      "other than \"none\"")
    out = {"application_type": application_type, "grant_types": grant_types, "response_types": response_types,
           "token_endpoint_auth_method": auth_method}
    out["redirect_uris"] = redirect_uris_of(metadata, application_type=application_type,
                                            required="authorization_code" in grant_types)
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
    if auth_method == AuthMethod.PRIVATE_KEY_JWT and not (out.get("jwks") or out.get("jwks_uri")):
        raise invalid("private_key_jwt needs the client's public keys: send jwks_uri (or jwks)")
    if cimd and auth_method == AuthMethod.PRIVATE_KEY_JWT and not out.get("jwks_uri"):
        raise invalid("a client ID metadata document with private_key_jwt must name its keys by jwks_uri")
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
