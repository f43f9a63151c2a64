"""SECURITY.md's threat model stays backed by tests, and the security probes stay in the normal suite.

Every line of the per-actor tables must name at least one test, every named test must exist, and the
cross-tenant matrix, the fuzzers and the schema-driven API probe must be collected by the plain
``./test.sh`` that CI (``.ci/run``) runs: nothing skips or deselects them.
"""

from __future__ import annotations

import ast
import re
import tomllib

from tests.conftest import ROOT

SECURITY = ROOT / "SECURITY.md"
ACTORS = ("Anonymous client", "Self-registered client", "Member", "Admin", "Owner",
          "The tenant's identity provider", "Another tenant", "Platform operator")
PROBES = ("tests/security/test_cross_tenant_matrix.py", "tests/oauth/test_fuzz.py",
          "tests/oauth/registration/test_fuzz.py", "tests/security/test_api_schemathesis.py",
          "tests/security/test_hostile_input.py")
NODE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def _threat_model() -> str:
    text = SECURITY.read_text()
    start = text.index("## Threat model per actor")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _test_functions(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_every_actor_has_a_section():
    model = _threat_model()
    for actor in ACTORS:
        assert re.search(rf"^### {re.escape(actor)}", model, re.MULTILINE), actor


def test_every_line_names_a_test_and_every_named_test_exists():
    rows = [line for line in _threat_model().splitlines()
            if line.startswith("| ") and not line.startswith("| Can / cannot") and not line.startswith("|---")]
    assert len(rows) > 50, len(rows)
    unbacked = [row[:80] for row in rows if not NODE.search(row)]
    assert not unbacked, unbacked
    missing = sorted({f"{path}::{name}" for path, name in NODE.findall(_threat_model())
                      if not (ROOT / path).exists() or name not in _test_functions(path)})
    assert not missing, missing


def test_the_security_probes_run_in_the_normal_suite():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert config["testpaths"] == ["tests"]
    assert "-m " not in config.get("addopts", "") and "--deselect" not in config.get("addopts", "")
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1].strip() == "./test.sh", ci[-1]  # the whole suite, no selection
    for probe in PROBES:
        source = (ROOT / probe).read_text()
        assert _test_functions(probe), probe
        assert "pytest.mark.skip" not in source and "pytest.skip(" not in source, probe
