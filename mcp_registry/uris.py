"""Canonical resource URIs (RFC 8707 §2, MCP RS7): the one spelling under which a resource is stored,
compared and put in a token's ``aud``."""

from __future__ import annotations

import ipaddress
from urllib.parse import quote, unquote, urlsplit, urlunsplit


class InvalidResourceURI(ValueError):
    pass


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _origin(parts) -> tuple[str, str, int]:
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port or {"https": 443, "http": 80}.get(scheme, 0)
    return scheme, ("loopback" if is_loopback_host(host) else host), port


def inside_url_space(uri: str, base: str) -> bool:
    """Whether ``uri`` names something under ``base`` (an origin with an optional path prefix): same
    scheme, host and port, where every loopback spelling (localhost, 127.0.0.0/8, ::1) is one host."""
    try:
        target, root = urlsplit(uri), urlsplit(base)
        if _origin(target) != _origin(root):
            return False
    except ValueError:
        return False
    prefix = root.path.rstrip("/")
    return not prefix or target.path == prefix or target.path.startswith(prefix + "/")


def canonical_resource_uri(uri: str) -> str:
    """https (http only for loopback), lower-case scheme and host, no default port, no fragment, no
    query, no trailing slash, dot-segments and percent-encoding normalised."""
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidResourceURI("a resource URI is required")
    uri = uri.strip()
    if len(uri) > 2000:
        raise InvalidResourceURI("a resource URI may be at most 2000 characters")
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        raise InvalidResourceURI(f"'{uri}' is not a valid URI: {exc}") from exc
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if parts.fragment or "#" in uri:
        raise InvalidResourceURI("a resource URI must not contain a fragment (#...)")
    if parts.query:
        raise InvalidResourceURI("a resource URI must not contain a query (?...)")
    if parts.username or parts.password:
        raise InvalidResourceURI("a resource URI must not contain user information (user@host)")
    if not host:
        raise InvalidResourceURI(f"'{uri}' has no host; give an absolute URI such as https://mcp.example.com/mcp")
    if scheme != "https" and not (scheme == "http" and is_loopback_host(host)):
        raise InvalidResourceURI("a resource URI must use https (http is allowed only for loopback addresses)")
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise InvalidResourceURI(f"'{parts.hostname}' is not a valid host name") from exc
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default_port = {"https": 443, "http": 80}[scheme]
    netloc = host if port in (None, default_port) else f"{host}:{port}"
    segments = []
    for segment in unquote(parts.path).split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    path = "/" + "/".join(quote(s, safe="-._~!$&'()*+,;=:@") for s in segments) if segments else ""
    return urlunsplit((scheme, netloc, path, "", ""))
