"""Tool import: list a live MCP server's tools (official MCP Python SDK client over streamable HTTP) and
propose how the registry should change: tools added, removed or changed, each new tool with a proposed
scope (one per tool, or one per tool group sharing a name prefix). Nothing is written here; the admin
confirms a proposal and ``services.tools_apply_import`` applies it."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import anyio

from kit import egress

from .models import MCPResource

MAX_TOOLS = 1000
MAX_RESPONSE_BYTES = 4 * 1024 * 1024  # one listing page; a thousand tools with long descriptions fit
_GROUP_SEPARATOR = re.compile(r"[._/:-]")


class ImportFailed(Exception):
    """The server could not be listed; the message says why and what to check."""


class SDKMissing(ImportFailed):
    """This installation lacks the MCP Python SDK (the ``mcp`` extra): the platform is at fault, not the server."""


def _require_sdk() -> None:
    try:
        import httpx2  # noqa: F401
        import mcp.client.client  # noqa: F401
        import mcp.client.streamable_http  # noqa: F401
    except ImportError as exc:
        raise SDKMissing(f"tool import needs the MCP Python SDK, which this installation lacks (no module "
                         f"'{exc.name}'): install the platform with its 'mcp' extra, pip install -c constraints.txt "
                         "'.[mcp]' (deploy/Containerfile does)") from exc


@dataclass
class ProposedTool:
    name: str
    description: str
    scopes: list[str]
    status: str  # "added", "changed", "unchanged", "removed"
    current_scopes: list[str] = field(default_factory=list)


async def _list_tools(url: str, token: str, timeout: float) -> list[dict]:
    from mcp.client.client import Client
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {token}"} if token else None
    tools: list[dict] = []
    with anyio.fail_after(timeout):
        # The SDK's HTTP client goes through the egress guard: the URL is the tenant's choice.
        async with egress.httpx2_async_client(egress.policy(timeout=timeout, max_bytes=MAX_RESPONSE_BYTES),
                                              headers=headers) as http:
            async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
                cursor = None
                while len(tools) < MAX_TOOLS:
                    page = await client.list_tools(cursor=cursor, cache_mode="bypass")
                    tools.extend({"name": t.name, "description": (t.description or "")[:2000]} for t in page.tools)
                    cursor = page.next_cursor
                    if not cursor:
                        break
    return tools[:MAX_TOOLS]


def list_server_tools(url: str, *, token: str = "", timeout: float = 10.0) -> list[dict]:
    """[{name, description}] from the MCP server at ``url``; raises ImportFailed with a readable reason.

    The reason never quotes the server's answer or the low-level error: a refused address says so, any
    other failure reads the same whatever listens there (no port scanning through the import button)."""
    _require_sdk()
    try:
        # A thread of its own: the caller may be a thread with an event loop already (ASGI, tests).
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(anyio.run, _list_tools, url, token, timeout).result()
    except BaseException as exc:  # the SDK raises exception groups from its task group
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        refused = egress.egress_error_in(exc)
        if refused is not None and refused.reason != "unreachable":
            raise ImportFailed(f"could not list the tools of {url}: {refused}") from exc
        status = _probe_status(url, token, timeout)
        if status in (401, 403):
            hint = ("it refused the management token: replace it" if token else
                    "it asked for authorization: set the resource's management token")
        else:
            hint = ("check the URL, that the server speaks streamable HTTP and is reachable from the platform "
                    f"within {timeout:g} s")
        raise ImportFailed(f"could not list the tools of {url}; {hint}") from exc


def _probe_status(url: str, token: str, timeout: float) -> int | None:
    """The HTTP status of a bare initialize request, to explain a failed listing (the SDK's errors do not
    say whether the server wanted credentials)."""
    headers = {"Accept": "application/json, text/event-stream", **({"Authorization": f"Bearer {token}"}
                                                                  if token else {})}
    body = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "mcp-platform-import", "version": "1"}}}
    try:
        return egress.fetch("POST", url, egress.policy(timeout=min(timeout, 5.0), max_bytes=64 * 1024),
                            headers=headers, json=body).status_code
    except egress.EgressError:
        return None


def _group_of(name: str) -> str:
    return _GROUP_SEPARATOR.split(name, 1)[0] if _GROUP_SEPARATOR.search(name) else ""


def propose(resource: MCPResource, listed: list[dict], *, strategy: str = "group") -> dict:
    """The diff between the registry and the server's tools, with a scope proposal for each new tool:
    ``strategy="tool"`` proposes ``<tool>``; ``"group"`` proposes ``<prefix>`` for tools sharing a name
    prefix (``files.read``, ``files.write`` -> ``files``) and ``<tool>`` otherwise. Existing tools keep
    their scopes."""
    current = {t.name: t for t in resource.tools.prefetch_related("required_scopes")}
    existing_scopes = set(resource.scopes.values_list("name", flat=True))
    groups: dict[str, int] = {}
    for tool in listed:
        if group := _group_of(tool["name"]):
            groups[group] = groups.get(group, 0) + 1
    proposals: list[ProposedTool] = []
    new_scopes: dict[str, str] = {}
    for tool in listed:
        name = tool["name"]
        if name in current:
            scopes = sorted(s.name for s in current[name].required_scopes.all())
            status = "changed" if current[name].description != tool["description"] else "unchanged"
            proposals.append(ProposedTool(name, tool["description"], scopes, status, scopes))
            continue
        group = _group_of(name)
        scope = group if strategy == "group" and group and groups[group] > 1 else name
        scope = re.sub(r"[^\x21\x23-\x5B\x5D-\x7E]", "_", scope)[:100]
        if scope not in existing_scopes:
            new_scopes.setdefault(scope, f"Call the {scope} tools" if scope == group else f"Call the {name} tool")
        proposals.append(ProposedTool(name, tool["description"], [scope], "added"))
    listed_names = {t["name"] for t in listed}
    for name, tool in current.items():
        if name not in listed_names:
            scopes = sorted(s.name for s in tool.required_scopes.all())
            proposals.append(ProposedTool(name, tool.description, scopes, "removed", scopes))
    return {
        "tools": [asdict(p) for p in proposals],
        "new_scopes": [{"name": n, "description": d, "granted_by_default": True}
                       for n, d in sorted(new_scopes.items())],
        "summary": {s: sum(p.status == s for p in proposals) for s in ("added", "changed", "unchanged", "removed")},
    }


def import_target(resource: MCPResource) -> str:
    """Where the tools are listed: the upstream for a gateway resource, the resource itself otherwise."""
    return resource.upstream_url if resource.is_gateway else resource.uri


def proposal_to_apply(proposal: dict, *, accept: set[str] | None = None) -> dict:
    """Turns a proposal into ``tools_apply_import`` arguments; ``accept`` limits it to some tool names."""
    chosen = [t for t in proposal["tools"] if t["status"] != "removed" and (accept is None or t["name"] in accept)]
    return {
        "tools": [{"name": t["name"], "description": t["description"], "scopes": t["scopes"],
                   "new_scopes": [s for s in proposal["new_scopes"] if s["name"] in t["scopes"]]} for t in chosen],
        "remove": [t["name"] for t in proposal["tools"] if t["status"] == "removed"
                   and (accept is None or t["name"] in accept)],
    }
