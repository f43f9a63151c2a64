"""``mcp-guard``: command-line entry points.

    mcp-guard gateway --resource https://auth.example.com/t/acme/resources/<id>/protected-resource-metadata \\
                      --upstream http://127.0.0.1:9000/mcp --bind 0.0.0.0:8080

``--resource`` is the platform URL of the resource's metadata (the registry's mirror document), or the
resource URI itself together with ``--issuer``. The gateway must be reachable at the resource URI.
"""

from __future__ import annotations

import argparse
import os
import sys

from .errors import GuardError
from .gateway import gateway_app
from .resource import ResourceConfig


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mcp-guard", description="Protect MCP servers with OAuth 2.1 tokens.")
    commands = parser.add_subparsers(dest="command", required=True)
    gateway = commands.add_parser("gateway", help="put an unprotected streamable-HTTP MCP server behind the guard")
    gateway.add_argument("--resource", required=True,
                         help="platform metadata URL of the resource, or its URI (then --issuer is required)")
    gateway.add_argument("--upstream", required=True, help="URL of the unprotected MCP endpoint")
    gateway.add_argument("--issuer", help="issuer to trust when --resource is a URI")
    gateway.add_argument("--scope", action="append", default=[], help="scope for the 401 challenge (repeatable)")
    gateway.add_argument("--tool-scope", action="append", default=[], metavar="TOOL=SCOPE[,SCOPE]",
                         help="scopes a tool needs (repeatable; with --issuer)")
    gateway.add_argument("--unknown-tools", choices=("refuse", "allow"), default="refuse",
                         help="a tools/call of a tool the registry does not list: 403 (refuse, the default) or "
                              "allowed with any valid token")
    gateway.add_argument("--bind", default="127.0.0.1:8080", help="host:port to listen on")
    gateway.add_argument("--identity-secret-env", metavar="VAR",
                         help="environment variable holding the secret that signs the X-MCP-Identity header")
    return parser


def _config(args) -> ResourceConfig:
    if args.issuer:
        tools = {}
        for item in args.tool_scope:
            tool, _, scopes = item.partition("=")
            if not tool or not scopes:
                raise GuardError(f"--tool-scope {item!r}: write TOOL=SCOPE[,SCOPE]")
            tools[tool] = [s for s in scopes.split(",") if s]
        return ResourceConfig.build(resource=args.resource, issuer=args.issuer, scopes=args.scope, tool_scopes=tools)
    return ResourceConfig.fetch(args.resource)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = _config(args)
        secret = None
        if args.identity_secret_env:
            secret = os.environ.get(args.identity_secret_env)
            if not secret:
                raise GuardError(f"environment variable {args.identity_secret_env} is empty")
        app = gateway_app(config, args.upstream, identity_secret=secret, unknown_tools=args.unknown_tools)
    except GuardError as exc:
        print(f"mcp-guard: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    host, _, port = args.bind.rpartition(":")
    print(f"mcp-guard: {config.resource} -> {args.upstream} (issuer {config.issuer}) on {args.bind}", file=sys.stderr)
    uvicorn.run(app, host=host or "127.0.0.1", port=int(port), log_level="info", timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
