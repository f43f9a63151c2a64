"""The tour's "Notes" MCP server: a FastMCP server (official MCP Python SDK) protected by mcp_guard, whose
settings (issuer, scopes, the scope each tool needs) are mirrored from the platform's registry.

    python -m mcp_platform.demo.notes --prm-url <mirror URL of the seeded resource> [--port 8765]

``manage.py serve --demo-mcp`` (run.sh) starts it with the URL of the resource ``seed_demo`` registered.
This module declares the resource (``SCOPES``, ``TOOLS``) and ``seed_demo`` registers exactly that, so the
registry and the server cannot disagree; ``build()`` refuses to serve a tool that ``TOOLS`` does not name.
It imports nothing of Django: it is a resource server like any other, and meets the platform over HTTP.
"""

from __future__ import annotations

import argparse
import sys
import threading

NAME, DISPLAY_NAME = "notes", "Notes"
DESCRIPTION = "A demo MCP server: read and write notes."
DEFAULT_PORT = 8765
SCOPES = [{"name": "notes:read", "description": "Read your notes"},
          {"name": "notes:write", "description": "Create and change notes", "granted_by_default": False}]
TOOLS = {"list_notes": ["notes:read"], "add_note": ["notes:write"]}


def resource_uri(port: int = DEFAULT_PORT) -> str:
    return f"http://127.0.0.1:{port}/mcp"


class Notebook:
    """Notes per person (the verified token's subject), in memory: a demo keeps nothing."""

    def __init__(self):
        self._lock = threading.Lock()
        self._notes: dict[str, list[str]] = {}

    def add(self, subject: str, text: str) -> list[str]:
        with self._lock:
            self._notes.setdefault(subject, []).append(text)
            return list(self._notes[subject])

    def list(self, subject: str) -> list[str]:
        with self._lock:
            return list(self._notes.get(subject, []))


def build(prm_url: str, notebook: Notebook | None = None):
    """The protected ASGI app. mcp_guard loads the resource's settings from ``prm_url`` on the first
    request (and again when they change), so the platform may start after this server."""
    from mcp.server.auth.middleware.auth_context import get_access_token
    from mcp.server.mcpserver import MCPServer

    from mcp_guard import protect

    notebook = notebook or Notebook()
    mcp = MCPServer(NAME, instructions=DESCRIPTION)

    def subject() -> str:
        token = get_access_token()  # the principal mcp_guard verified (never the raw token)
        return token.subject if token and token.subject else "anonymous"

    @mcp.tool()
    def list_notes() -> str:
        """List your notes."""
        notes = notebook.list(subject())
        return "\n".join(f"{i}. {text}" for i, text in enumerate(notes, 1)) if notes else "You have no notes yet."

    @mcp.tool()
    def add_note(text: str) -> str:
        """Add a note."""
        notes = notebook.add(subject(), text[:1000])
        return f"Saved. You have {len(notes)} note(s)."

    served = {tool.name for tool in mcp._tool_manager.list_tools()}
    if served != set(TOOLS):
        raise RuntimeError(f"the demo server serves {sorted(served)} but declares {sorted(TOOLS)}")
    return protect(mcp.streamable_http_app(), prm_url)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mcp_platform.demo.notes", description=__doc__.splitlines()[0])
    parser.add_argument("--prm-url", required=True, help="the platform's mirror URL of this resource's PRM")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    import logging

    import uvicorn

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per JWKS or PRM fetch is noise here
    print(f"Notes MCP server on {resource_uri(args.port)} (settings from {args.prm_url})", flush=True)
    uvicorn.run(build(args.prm_url), host="127.0.0.1", port=args.port, log_level="warning", lifespan="on")


if __name__ == "__main__":
    main(sys.argv[1:])
