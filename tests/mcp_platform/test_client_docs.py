"""docs/clients.md stays backed by tests: every client row names at least one test node id, every named test
exists (parametrized ids by their function), and the page is linked from the README."""

from __future__ import annotations

import ast
import re

from tests.conftest import ROOT

CLIENTS = ROOT / "docs" / "clients.md"
NODE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)(\[[^\]`]*\])?`")
EXPECTED = ("VS Code", "Claude", "ChatGPT", "Cursor", "MCP Python SDK", "MCP TypeScript SDK", "Google ADK",
            "MCP conformance suite")


def _rows() -> dict[str, str]:
    rows = {}
    for line in CLIENTS.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| \*\*([^*]+)\*\*", line)
        if match:
            rows[match.group(1)] = line
    return rows


def _tests_in(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_every_client_has_a_row_naming_existing_tests():
    rows = _rows()
    assert set(EXPECTED) <= set(rows), sorted(set(EXPECTED) - set(rows))
    for client, line in rows.items():
        nodes = NODE.findall(line.split("|")[-2])  # the last column: "Proven by"
        assert nodes, f"docs/clients.md: the {client} row names no test"
        for path, name, _ in nodes:
            assert (ROOT / path).exists(), f"{client}: {path} does not exist"
            assert name in _tests_in(path), f"{client}: {path}::{name} does not exist"


def test_the_readme_links_the_page():
    assert "(docs/clients.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
