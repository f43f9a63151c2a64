"""Apps reach each other through public names: no app imports (or reads an attribute of) another app's
private name (``_something``). A private name is free to change with its module; another app needing it
is the sign it wants a public function (a selector, or a name of the app's public face)."""

import ast
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
# Django's documented model API, not a private name of the app that defines the model.
DJANGO_MODEL_API = {"_meta", "_default_manager", "_base_manager", "_state"}
APPS = ("kit", "audit", "jobs", "tenants", "mcp_registry", "oauth", "identity", "mcp_platform", "mcp_guard")


def _private_uses(source: str, where: str, app: str) -> list[str]:
    tree = ast.parse(source)
    aliases, found = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            other = node.module.split(".")[0]
            for alias in node.names:
                if other in APPS and other != app:
                    if alias.name.startswith("_"):
                        found.append(f"{where}:{node.lineno} from {node.module} import {alias.name}")
                    aliases[alias.asname or alias.name] = other
        elif isinstance(node, ast.Import):
            for alias in node.names:
                other = alias.name.split(".")[0]
                if other in APPS and other != app:
                    aliases[alias.asname or other] = other
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and node.attr not in DJANGO_MODEL_API and isinstance(node.value, ast.Name)
                and node.value.id in aliases):
            found.append(f"{where}:{node.lineno} {node.value.id}.{node.attr}")
    return found


def test_no_app_uses_a_private_name_of_another():
    found = []
    for app in APPS:
        for file in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in file.parts:
                found += _private_uses(file.read_text(), str(file.relative_to(ROOT)), app)
    assert not found, "give the other app a public function instead:\n" + "\n".join(found)


def test_the_check_sees_a_private_import_and_a_private_attribute():
    source = "from audit.services import _describe\nimport kit.tenant_cache as c\nfrom . import _own\nc._key\n"
    assert _private_uses(source, "probe.py", "oauth") == ["probe.py:1 from audit.services import _describe",
                                                          "probe.py:4 c._key"]
    assert _private_uses(source, "probe.py", "kit") == ["probe.py:1 from audit.services import _describe"]


# Apps whose rows other apps read through the app's selectors only (``selectors.py``), never by querying
# its models' managers. The registry is the first; the others still have direct readers (docs/architecture.md).
READ_THROUGH_SELECTORS = ("mcp_registry",)


def _direct_queries(source: str, where: str, app: str) -> list[str]:
    tree = ast.parse(source)
    models = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            other = node.module.split(".")[0]
            if other in READ_THROUGH_SELECTORS and other != app and node.module.endswith(".models"):
                models.update({alias.asname or alias.name: f"{node.module}.{alias.name}" for alias in node.names})
    return [f"{where}:{node.lineno} {models[node.value.id]}.{node.attr}" for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr in ("objects", "_default_manager", "_base_manager")
            and isinstance(node.value, ast.Name) and node.value.id in models]


def test_other_apps_read_the_registry_through_its_selectors():
    found = []
    for app in APPS:
        for file in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in file.parts:
                found += _direct_queries(file.read_text(), str(file.relative_to(ROOT)), app)
    assert not found, "use (or add) a function of mcp_registry/selectors.py:\n" + "\n".join(found)


def test_the_check_sees_a_direct_query():
    source = "from mcp_registry.models import MCPResource as R\nR.objects.filter(uri='x')\n"
    assert _direct_queries(source, "probe.py", "oauth") == ["probe.py:2 mcp_registry.models.MCPResource.objects"]
    assert _direct_queries(source, "probe.py", "mcp_registry") == []
