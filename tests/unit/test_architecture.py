"""Dependencies point one way: the core never imports connectors, the stores never import the
query library, the CLI reaches connectors only through the registry, and `lineage --help`
imports none of them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(folder: str) -> dict[str, set[str]]:
    """Module file → every module it imports (at any depth of the file)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def offenders(folder: str, forbidden: str) -> list[str]:
    return [f"{path} imports {name}" for path, names in imported_modules(folder).items()
            for name in sorted(names) if name == forbidden or name.startswith(f"{forbidden}.")]


def test_the_core_and_the_cli_never_import_connectors() -> None:
    assert offenders("lineage", "connectors") == []  # the CLI included: it uses the registry


def test_the_api_never_imports_connectors() -> None:
    assert offenders("api", "connectors") == []


def test_stores_never_import_the_query_library() -> None:
    assert offenders("lineage/stores", "queries") == []


def test_api_dependencies_do_not_import_the_app() -> None:
    assert "api.app" not in imported_modules("api")["api/deps.py"]


def test_help_starts_without_connectors_stores_or_settings() -> None:
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "lineage", "--help"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    loaded = {line.split("|")[-1].strip() for line in result.stderr.splitlines()
              if line.startswith("import time:")}
    assert "lineage.cli.app" in loaded  # the measurement saw the CLI
    heavy = sorted(m for m in loaded if m.split(".")[0] in ("connectors", "neo4j", "networkx",
                                                             "pydicom", "queries", "fastapi"))
    assert heavy == []
