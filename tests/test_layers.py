"""Package layering, read from the source (every import counted, at any depth of a module).

No import cycles between the packages; only the HTTP edge imports FastAPI or Starlette;
domain code raises domain errors (`contracts.errors`), never the HTTP-statused
`GatewayError`; the request path's collaborators and records are typed. Modules are
named by their dotted names, so a move of a module is a rename here too.
"""

from __future__ import annotations

import ast
import inspect
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gateway", "policies", "estimators", "admin_ui", "contracts")
COMPOSITION_ROOT = "gateway.app"  # builds everything, the pages included
HTTP_EDGE = (
    "gateway.app", "gateway.edge.access_log", "gateway.identity.auth", "gateway.edge.dependencies", "gateway.edge.errors",
    "gateway.edge.limits", "gateway.edge.routes", "gateway.edge.event_stream",
)
WEB = ("fastapi", "starlette")
#: Domain code: raises `contracts.errors`, knows nothing of HTTP.
DOMAIN = (
    "policies", "estimators", "contracts", "gateway.services", "gateway.inventory", "gateway.budgets",
    "gateway.identity.keys", "gateway.ledger",
)


def files(module: str) -> list[Path]:
    """The source files of a dotted module or package name."""
    path = ROOT.joinpath(*module.split("."))
    if path.is_dir():
        return sorted(path.rglob("*.py"))
    return [path.with_suffix(".py")]


def imported_modules(path: Path) -> set[str]:
    """Every absolute module `path` imports (`from a.b import c` counts `a.b` and `a.b.c`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def imported_packages(path: Path) -> set[str]:
    """Top-level packages of this project that `path` imports."""
    return {name.split(".")[0] for name in imported_modules(path)} & set(PACKAGES)


def dependencies(package: str, skip: str | None = None) -> set[str]:
    skipped = set(files(skip)) if skip else set()
    return {
        imported
        for path in files(package)
        if path not in skipped
        for imported in imported_packages(path)
        if imported != package
    }


def _under(name: str, modules: tuple[str, ...]) -> bool:
    return any(name == module or name.startswith(module + ".") for module in modules)


def test_no_two_packages_import_each_other():
    graph = {package: dependencies(package, skip=COMPOSITION_ROOT) for package in PACKAGES}
    cycles = {(a, b) for a in PACKAGES for b in graph[a] if a in graph[b]}
    assert cycles == set()


def test_policies_estimators_and_contracts_never_import_the_gateway_or_the_pages():
    for package in ("policies", "estimators", "contracts"):
        assert dependencies(package) & {"gateway", "admin_ui"} == set(), package


def test_the_contracts_depend_on_nothing_but_the_estimators_records():
    assert dependencies("contracts") <= {"estimators"}


def test_only_the_composition_root_of_the_gateway_knows_the_pages():
    assert "admin_ui" not in dependencies("gateway", skip=COMPOSITION_ROOT)
    assert "admin_ui" in {p for path in files(COMPOSITION_ROOT) for p in imported_packages(path)}


def test_only_the_http_edge_imports_fastapi_or_starlette():
    edge = {path for module in HTTP_EDGE for path in files(module)}
    offenders = {
        str(path.relative_to(ROOT))
        for package in ("gateway", "policies", "estimators", "contracts")
        for path in files(package)
        if path not in edge and any(_under(name, WEB) for name in imported_modules(path))
    }
    assert offenders == set()


def test_domain_code_raises_domain_errors_not_http_statuses():
    offenders = {
        str(path.relative_to(ROOT))
        for module in DOMAIN
        for path in files(module)
        if any(_under(name, (*WEB, "gateway.edge.errors")) for name in imported_modules(path))
    }
    assert offenders == set()


def test_upstream_retries_are_decided_on_error_codes_not_http_statuses():
    from gateway.providers import upstream

    tree = ast.parse(inspect.getsource(upstream))
    compared = [
        ast.unparse(node) for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        and any(isinstance(side, ast.Attribute) and side.attr == "status" for side in (node.left, *node.comparators))
    ]
    assert compared == []


def test_the_chat_pipeline_types_every_collaborator():
    from gateway.request.pipeline import ChatPipeline

    hints = typing.get_type_hints(ChatPipeline.__init__)
    untyped = {name for name, hint in hints.items() if hint is typing.Any or typing.Any in typing.get_args(hint)}
    assert untyped == set()


def test_metrics_and_telemetry_read_the_typed_ledger_record():
    from gateway.ledger.records import LedgerRecord
    from gateway.observability.metrics import Metrics
    from gateway.observability.telemetry import Telemetry

    assert typing.get_type_hints(Metrics.observe)["record"] is LedgerRecord
    assert typing.get_type_hints(Telemetry.finish)["record"] is LedgerRecord


def test_one_module_defines_the_micro_unit_constants():
    """Money and carbon micro-units are defined once (`gateway.units`), not per module."""
    defining = {
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in files(package)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name) and "MICRO" in target.id
    }
    assert defining == {str(files("gateway.units")[0].relative_to(ROOT))}
