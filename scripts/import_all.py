"""Imports every module of every app (the packages pyproject.toml ships, migrations included) and fails
on the first run if any cannot be imported: a dependency used without being declared, or one that only an
extra installs imported at module level. scripts/runtime_imports.sh runs it in a venv holding only the
runtime dependencies; it works in any venv with the project's dependencies."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import tempfile
import tomllib
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shipped_packages() -> list[str]:
    """The top-level packages of [tool.setuptools.packages.find] include (e.g. "oauth*" -> oauth)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["packages"]["find"]["include"]
    names = [pattern.rstrip("*").rstrip(".") for pattern in patterns]
    return [name for name in names if (ROOT / name / "__init__.py").exists()]


def modules_of(package: str):
    yield package
    path = [str(ROOT / package)]
    for info in pkgutil.walk_packages(path, prefix=f"{package}.", onerror=lambda name: None):
        if ".tests" not in info.name:
            yield info.name


def main() -> int:
    sys.path.insert(0, str(ROOT))
    # Importing needs settings but no service: a throwaway VAR_DIR (settings write secrets there), no
    # database or Redis connection is opened at import time.
    var_dir = tempfile.TemporaryDirectory(prefix="import-check-")
    (Path(var_dir.name) / "static").mkdir()  # whitenoise warns at import of the ASGI app otherwise
    os.environ.update(DJANGO_SETTINGS_MODULE="mcp_platform.settings", PLATFORM_MODE="embedded", VAR_DIR=var_dir.name)
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    failures, count = [], 0
    for package in shipped_packages():
        for name in modules_of(package):
            count += 1
            try:
                importlib.import_module(name)
            except Exception:  # an ImportError above all, but any module that cannot be imported fails
                failures.append((name, traceback.format_exc(limit=3)))
    for name, text in failures:
        print(f"cannot import {name}:\n{text}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} of {count} modules cannot be imported with the runtime dependencies "
              "(pyproject.toml [project] dependencies): declare what they use or import extras lazily",
              file=sys.stderr)
        return 1
    print(f"imported {count} modules of {', '.join(shipped_packages())}")
    var_dir.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
