"""Package layering: no import cycles between the packages (read from the source, every import counted)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gateway", "policies", "estimators", "admin_ui", "contracts")
COMPOSITION_ROOT = ROOT / "gateway" / "app.py"  # builds everything, the pages included


def imported_packages(path: Path) -> set[str]:
    """Top-level packages of this project that `path` imports, at any depth of the module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


def dependencies(package: str, skip: Path | None = None) -> set[str]:
    return {
        imported
        for path in (ROOT / package).rglob("*.py")
        if path != skip
        for imported in imported_packages(path)
        if imported != package
    }


def test_policies_estimators_and_contracts_never_import_the_gateway_or_the_pages():
    for package in ("policies", "estimators", "contracts"):
        assert dependencies(package) & {"gateway", "admin_ui"} == set(), package


def test_the_contracts_depend_on_nothing_but_the_estimators_records():
    assert dependencies("contracts") <= {"estimators"}


def test_only_the_composition_root_of_the_gateway_knows_the_pages():
    assert "admin_ui" not in dependencies("gateway", skip=COMPOSITION_ROOT)
    assert "admin_ui" in imported_packages(COMPOSITION_ROOT)
