"""mcp_guard is a library MCP server authors install on its own: it must import and work with Django (and
every app of this platform) unavailable. Run in a fresh interpreter whose import system refuses them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .issuer import LocalIssuer

ROOT = Path(__file__).resolve().parents[2]
RESOURCE = "https://files.example/mcp"

SCRIPT = r"""
import asyncio, importlib, json, pkgutil, sys

BLOCKED = ("django", "rest_framework", "oauth2_provider", "celery", "tenants", "audit", "jobs", "identity",
           "oauth", "mcp_registry", "mcp_platform")

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: mcp_guard must not need it")
        return None

sys.meta_path.insert(0, Blocker())
import httpx
import mcp_guard
for module in pkgutil.iter_modules(mcp_guard.__path__):
    importlib.import_module("mcp_guard." + module.name)

issuer, resource, token, other_token = sys.argv[1:5]
config = mcp_guard.ResourceConfig.build(resource=resource, issuer=issuer, scopes=["files:read"],
                                        tool_scopes={"delete_file": ["files:admin"]})

async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": mcp_guard.current_token(scope).subject.encode()})

async def main():
    guarded = mcp_guard.GuardMiddleware(app, config=config)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=guarded), base_url="https://files.example") as c:
        ok = await c.post("/mcp", headers={"Authorization": "Bearer " + token})
        foreign = await c.post("/mcp", headers={"Authorization": "Bearer " + other_token})
        anonymous = await c.post("/mcp")
        step_up = await c.post("/mcp", headers={"Authorization": "Bearer " + token},
                               json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                     "params": {"name": "delete_file"}})
    return {"ok": [ok.status_code, ok.text], "foreign": foreign.status_code, "anonymous": anonymous.status_code,
            "step_up": [step_up.status_code, step_up.headers.get("www-authenticate")],
            "django_loaded": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)}

print(json.dumps(asyncio.run(main())))
"""


def test_mcp_guard_imports_and_verifies_tokens_with_django_blocked(document_server):
    issuer = LocalIssuer(document_server)
    other = LocalIssuer(document_server, slug="other")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": "/tmp"}  # no DJANGO_SETTINGS_MODULE
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, issuer.issuer, RESOURCE, issuer.mint(RESOURCE, scope="files:read"),
         other.mint(RESOURCE, scope="files:read")],
        cwd="/tmp", env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["ok"] == [200, "user-1"]
    assert outcome["foreign"] == 401 and outcome["anonymous"] == 401
    assert outcome["step_up"][0] == 403 and 'error="insufficient_scope"' in outcome["step_up"][1]
    assert outcome["django_loaded"] == []


def test_mcp_guard_source_names_no_platform_module():
    """A static second wall: no module of the package even mentions importing Django or our apps."""
    banned = ("django", "rest_framework", "tenants", "audit", "mcp_registry", "mcp_platform", "oauth.", "identity")
    for path in (ROOT / "mcp_guard").glob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                module = stripped.split()[1]
                assert not module.startswith(banned), f"{path.name}: {stripped}"
