"""What mcp_guard knows about the resource it protects: its URI, its issuer, the PRM document it serves,
the scopes its 401 challenge asks for and the scopes each tool needs.

Built from the platform's mirror document (``https://<platform>/t/<tenant>/resources/<id>/protected-
resource-metadata``), which is the RFC 9728 document plus ``mcp_tool_scopes``; or from arguments, for a
server configured by hand.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx

from .errors import GuardError

WELL_KNOWN = "/.well-known/oauth-protected-resource"
TOOL_SCOPES_MEMBER = "mcp_tool_scopes"
AS_ONLY_SCOPES = frozenset({"offline_access", "openid"})
_MAX_AGE = re.compile(r"max-age=(\d+)")


def well_known_url(resource: str) -> str:
    parts = urlsplit(resource)
    return urlunsplit((parts.scheme, parts.netloc, WELL_KNOWN + parts.path.rstrip("/"), "", ""))


@dataclass
class ResourceConfig:
    resource: str
    issuer: str
    metadata: dict
    tool_scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source_url: str | None = None
    etag: str | None = None
    max_age: float = 60.0
    fetched_at: float = field(default_factory=time.monotonic)

    @classmethod
    def build(cls, *, resource: str, issuer: str, scopes=(), tool_scopes=None, resource_name: str | None = None,
              documentation: str | None = None) -> ResourceConfig:
        """A hand-written configuration (no platform): the PRM is generated from the arguments."""
        metadata = {"resource": resource, "authorization_servers": [issuer],
                    "scopes_supported": [s for s in scopes if s not in AS_ONLY_SCOPES],
                    "bearer_methods_supported": ["header"]}
        if resource_name:
            metadata["resource_name"] = resource_name
        if documentation:
            metadata["resource_documentation"] = documentation
        return cls(resource=resource, issuer=issuer, metadata=metadata,
                   tool_scopes={k: tuple(v) for k, v in (tool_scopes or {}).items()})

    @classmethod
    def from_document(cls, document: dict, *, source_url: str | None = None, etag: str | None = None,
                      max_age: float = 60.0) -> ResourceConfig:
        if not isinstance(document, dict):
            raise GuardError("the protected resource metadata is not a JSON object")
        document = dict(document)
        tools = document.pop(TOOL_SCOPES_MEMBER, {}) or {}
        resource, servers = document.get("resource"), document.get("authorization_servers")
        if not isinstance(resource, str) or not resource:
            raise GuardError("the protected resource metadata has no 'resource'")
        if not isinstance(servers, list) or not servers or not isinstance(servers[0], str):
            raise GuardError("the protected resource metadata lists no authorization server")
        if not isinstance(tools, dict):
            raise GuardError(f"'{TOOL_SCOPES_MEMBER}' must map tool names to lists of scopes")
        document["scopes_supported"] = [s for s in document.get("scopes_supported", []) if s not in AS_ONLY_SCOPES]
        return cls(resource=resource, issuer=servers[0], metadata=document,
                   tool_scopes={str(k): tuple(str(s) for s in v) for k, v in tools.items() if isinstance(v, list)},
                   source_url=source_url, etag=etag, max_age=max_age)

    @classmethod
    def fetch(cls, url: str, *, timeout: float = 5.0) -> ResourceConfig:
        """Reads the platform's mirror document now (blocking); use at start-up."""
        try:
            response = httpx.get(url, timeout=timeout, follow_redirects=False, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise GuardError(f"could not fetch the resource metadata from {url}: {exc.__class__.__name__}") from exc
        return cls._from_response(url, response)

    @classmethod
    def _from_response(cls, url: str, response: httpx.Response) -> ResourceConfig:
        if response.status_code != 200:
            raise GuardError(f"{url} answered HTTP {response.status_code}; is the resource registered and active?")
        try:
            document = response.json()
        except ValueError as exc:
            raise GuardError(f"{url} did not return JSON") from exc
        match = _MAX_AGE.search(response.headers.get("cache-control", ""))
        return cls.from_document(document, source_url=url, etag=response.headers.get("etag"),
                                 max_age=float(match.group(1)) if match else 60.0)

    async def refreshed(self, http: httpx.AsyncClient) -> ResourceConfig:
        """This configuration, re-read from its source if it is older than the source's max-age (a
        conditional GET, so an unchanged document costs a 304). On any failure the current one stays."""
        if not self.source_url or time.monotonic() - self.fetched_at < self.max_age:
            return self
        self.fetched_at = time.monotonic()
        headers = {"Accept": "application/json", **({"If-None-Match": self.etag} if self.etag else {})}
        try:
            response = await http.get(self.source_url, headers=headers)
            if response.status_code == 304:
                return self
            return ResourceConfig._from_response(self.source_url, response)
        except (httpx.HTTPError, GuardError):
            return self

    @property
    def resource_metadata_url(self) -> str:
        return well_known_url(self.resource)

    @property
    def well_known_path(self) -> str:
        return urlsplit(self.resource_metadata_url).path

    @property
    def resource_path(self) -> str:
        return urlsplit(self.resource).path or "/"

    @property
    def challenge_scopes(self) -> tuple[str, ...]:
        return tuple(self.metadata.get("scopes_supported", ()))

    def scopes_for_tool(self, name: str) -> tuple[str, ...]:
        return self.tool_scopes.get(name, ())
