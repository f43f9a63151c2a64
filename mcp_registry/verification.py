"""Network checks of MCP servers: their published PRM and their own URL (verification), and their tool list
(import).

Every fetch goes through the egress guard (kit.egress): one deadline, no redirects, a bounded body; every
failure becomes a sentence an admin can act on, never an exception escaping to a 500.
"""

from __future__ import annotations

import json

from kit import egress

from . import prm
from .models import MCPResource
from .uris import InvalidResourceURI, canonical_resource_uri

MAX_PRM_BYTES = 64 * 1024
# Egress: these URLs are chosen by tenant admins. Through the egress guard (kit/egress.py) they need no
# loopback switch except for settings.DEMO_MCP_URL (the embedded mode's demo server; empty in production)
# and gateway resources, whose URL is the platform's own PUBLIC_URL path rather than a tenant's choice.


def _fetch_json(url: str, *, timeout: float) -> tuple[dict | None, str]:
    # Through the egress guard: a resource URI is an address the tenant chose (no port scanning, no
    # response echoed: the status of an allowed server at most).
    try:
        response = egress.fetch("GET", url, egress.policy(timeout=timeout, max_bytes=MAX_PRM_BYTES),
                                headers={"Accept": "application/json"})
    except egress.EgressError as exc:
        if exc.reason == "too_large":
            return None, f"{url} sent more than {MAX_PRM_BYTES} bytes; a PRM document is small JSON"
        return None, f"could not fetch {url}: {exc}"
    if response.status_code != 200:
        return None, f"{url} answered HTTP {response.status_code}, expected 200 with the PRM document"
    try:
        document = json.loads(response.content)
    except ValueError:
        return None, f"{url} did not return JSON"
    if not isinstance(document, dict):
        return None, f"{url} returned JSON that is not an object"
    return document, ""


# What an MCP client sends first (MCP 2025-06-18, lifecycle): a protected server must answer it with 401.
INITIALIZE = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "mcp-auth-platform verification", "version": "1"}}}


def check_resource_answers(resource: MCPResource, *, timeout: float = 5.0) -> str:
    """'' when the resource's own URL answers an MCP client without a token as a protected MCP server must
    (401 with a Bearer challenge naming its metadata, RFC 9728 §5.1); else what is wrong. A published PRM
    alone proves nothing about the URL clients will call (a gateway path under a server that does not route
    it, a server that moved)."""
    url = resource.uri
    try:
        response = egress.fetch("POST", url, egress.policy(timeout=timeout, max_bytes=MAX_PRM_BYTES), json=INITIALIZE,
                                headers={"Accept": "application/json, text/event-stream"})
    except egress.EgressError as exc:
        return f"could not reach {url}: {exc}"
    if response.status_code != 401:
        if 200 <= response.status_code < 300:
            return f"{url} answered an MCP request without a token (HTTP {response.status_code}): it is not protected"
        return f"{url} answered HTTP {response.status_code} to an MCP request without a token, expected 401"
    challenge = response.headers.get("www-authenticate", "")
    if not challenge.lower().startswith("bearer") or "resource_metadata=" not in challenge:
        return f"{url} answered 401 without a Bearer challenge naming its resource_metadata (RFC 9728 §5.1)"
    return ""


def check_published_prm(resource: MCPResource, *, timeout: float = 5.0) -> str:
    """'' when the server's PRM names this resource and this tenant's issuer; else what is wrong."""
    url = prm.well_known_url(resource.uri)
    document, error = _fetch_json(url, timeout=timeout)
    if error:
        return error
    try:
        published = canonical_resource_uri(str(document.get("resource", "")))
    except InvalidResourceURI:
        published = None
    if published != resource.uri:
        return (f"the PRM at {url} names resource {document.get('resource')!r}, not {resource.uri}; serve this "
                "resource's document (mcp_guard mirrors it from the platform)")
    issuer = resource.tenant.issuer
    servers = document.get("authorization_servers")
    if not isinstance(servers, list) or issuer not in servers:
        return (f"the PRM at {url} does not list this tenant's issuer {issuer} in authorization_servers "
                f"(it lists {servers!r})")
    return ""
