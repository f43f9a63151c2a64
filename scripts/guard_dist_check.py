"""Run by scripts/guard_wheel.sh inside the clean venv holding the mcp_guard wheel: the installed
distributions are mcp-guard, its declared dependencies and theirs (no extras), and nothing else; every
module of the installed package imports."""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys
from importlib import metadata

INSTALLER = {"pip", "setuptools", "wheel"}  # what `python -m venv` itself puts there
DEPENDENCIES = {"pyjwt", "cryptography", "httpx"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(name: str) -> set[str]:
    """Names a distribution requires outside its extras (other markers kept: an upper bound)."""
    found = set()
    try:
        listed = metadata.requires(name) or ()
    except metadata.PackageNotFoundError:  # not installed: its marker excluded it here (e.g. python_version)
        return found
    for requirement in listed:
        if re.search(r"extra\s*==", requirement):
            continue
        found.add(canonical(re.match(r"[A-Za-z0-9._-]+", requirement).group()))
    return found


def main() -> int:
    declared = requirements("mcp-guard")
    if declared != DEPENDENCIES:
        print(f"mcp-guard declares {sorted(declared)}, expected {sorted(DEPENDENCIES)}", file=sys.stderr)
        return 1
    allowed, todo = {"mcp-guard"}, list(declared)
    while todo:
        name = todo.pop()
        if name not in allowed:
            allowed.add(name)
            todo.extend(requirements(name))
    installed = {canonical(d.metadata["Name"]) for d in metadata.distributions()} - INSTALLER
    extra = installed - allowed
    if extra or "django" in installed:
        print(f"the mcp_guard wheel brought more than its dependencies: {sorted(extra)}", file=sys.stderr)
        return 1
    import mcp_guard

    if "site-packages" not in (mcp_guard.__file__ or ""):
        print(f"mcp_guard imported from {mcp_guard.__file__}, not the installed wheel", file=sys.stderr)
        return 1
    for module in pkgutil.iter_modules(mcp_guard.__path__):
        importlib.import_module(f"mcp_guard.{module.name}")
    print(f"mcp_guard wheel: {len(installed)} distributions ({', '.join(sorted(installed))}); imports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
