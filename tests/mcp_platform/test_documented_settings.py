"""Every variable of the README's configuration table is read by mcp_platform/settings.py: observed, not
grepped. A subprocess imports the settings module with a clean environment, then re-imports it with one
variable set at a time (to values of each kind a variable can take) and compares every setting; a
variable whose value changes no setting, and raises nothing, is not read. The failure names it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Values tried in turn until one changes a setting (or is refused by the settings, which also reads it).
CANDIDATES = ["true", "false", "4242", "42.5", "sentinel-value", "a.example,b.example",
              "http://127.0.0.1:9/sentinel", "postgres://u@127.0.0.1:9/sentinel", "smtp://127.0.0.1:9"]

PROBE = r"""
import importlib, json, os, sys  # noqa
names, candidates = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.path.insert(0, os.getcwd())

def snapshot():  # a fresh module each time: a reload would keep names an earlier run defined
    sys.modules.pop("mcp_platform.settings", None)
    module = importlib.import_module("mcp_platform.settings")
    return {k: repr(getattr(module, k)) for k in dir(module) if k.isupper()}

base = snapshot()
unstable = {k for k, v in snapshot().items() if base.get(k) != v}
observed = {}
for name in names:
    seen, before = None, os.environ.get(name)
    for value in candidates:
        os.environ[name] = value
        try:
            changed = sorted(k for k, v in snapshot().items() if base.get(k) != v and k not in unstable)
            changed += sorted(k for k in base if k not in unstable and k not in snapshot())
        except Exception as exc:  # the settings refused the value: they read it
            seen = f"refused {value!r}: {type(exc).__name__}"
            break
        finally:
            os.environ.pop(name)
            if before is not None:
                os.environ[name] = before
        if changed:
            seen = f"{value!r} changed {', '.join(changed[:3])}"
            break
    observed[name] = seen
print(json.dumps(observed))
"""


def documented_variables() -> list[str]:
    """The variables of the README's configuration table (first column; a row may name several)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    names = []
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names += [n for n in re.findall(r"`([^`]+)`", first_cell) if re.fullmatch(r"[A-Z][A-Z0-9_]*", n)]
    return names


def test_the_readme_table_is_parsed():
    names = documented_variables()
    assert {"DATABASE_URL", "REDIS_URL", "CELERY_QUEUE", "AUDIT_SINK_BATCH", "SECURE_HSTS_SECONDS"} <= set(names)
    assert len(names) == len(set(names)), "a variable is documented twice"


def test_every_documented_variable_is_read_by_settings(tmp_path):
    names = documented_variables()
    # A clean environment, so each variable alone makes the difference; PostgreSQL (never connected to at
    # import) because the connection settings are read for it only.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "VAR_DIR": str(tmp_path / "var"),
           "DATABASE_URL": "postgres://probe@127.0.0.1:9/probe"}
    names_probed = [n for n in names if n != "VAR_DIR"]  # the probe needs a VAR_DIR; it is checked below
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(names_probed), json.dumps(CANDIDATES)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    observed = json.loads(result.stdout.strip().splitlines()[-1])
    missing = sorted(name for name, seen in observed.items() if seen is None)
    assert not missing, (f"README.md's configuration table documents {', '.join(missing)}, but setting it "
                         "changes nothing in mcp_platform/settings.py: read it there (env.<type>(...)) or "
                         "take it out of the table")

    # VAR_DIR: the probe above ran with it; another directory moves the generated secrets' home.
    other = dict(env, VAR_DIR=str(tmp_path / "elsewhere"))
    moved = subprocess.run([sys.executable, "-c", "import mcp_platform.settings as s; print(s.VAR_DIR)"],
                           cwd=ROOT, env=other, capture_output=True, text=True, timeout=60)
    assert moved.stdout.strip() == str(tmp_path / "elsewhere"), moved.stderr[-1000:]


def test_every_worker_command_honours_celery_queue():
    """The README's worker command, deploy/Procfile's worker and deploy/Containerfile's worker example
    consume the queue CELERY_QUEUE names (tasks are sent there: CELERY_TASK_DEFAULT_QUEUE)."""
    sources = {"README.md": (ROOT / "README.md").read_text(), "deploy/Procfile": (ROOT / "deploy/Procfile").read_text(),
               "deploy/Containerfile": (ROOT / "deploy/Containerfile").read_text()}
    for name, text in sources.items():
        commands = [line for line in text.splitlines() if re.search(r"celery\b.*\bworker\b", line)
                    and not line.lstrip().startswith(("./test.sh", "```"))]
        assert commands, f"{name} has no worker command"
        for line in commands:
            if "--queues" not in line and " -Q " not in line:
                raise AssertionError(f"{name}: worker without --queues: {line.strip()}")
            assert "CELERY_QUEUE" in line, f"{name}: the worker's queue ignores CELERY_QUEUE: {line.strip()}"
