"""The engine stands in layers: every module imports only modules below it (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "healthkit"

#: Bottom up; a module may import only modules that come before it.
ORDER = [
    "_status",
    "_text",
    "_hosts",
    "_prober",
    "_redact",
    "_loops",
    "_threads",
    "_check",
    "_events",
    "_history",
    "_lifecycle",
    "_outcome",
    "_probe",
    "_call",
    "_damping",
    "_report",
    "_observe",
    "_state",
    "_render",
    "_page",
    "_endpoint",
    "_runner",
    "_refresh",
    "_settings",
    "_auth",
    "_mount",
    "_health",
    "_rebuild",
    "_target",
    "_cli",
    "__main__",
]


def internal_imports(module: str) -> set[str]:
    """Every module of the package that ``module`` imports, anywhere in it (functions included)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module)
            else:
                found.update(alias.name for alias in node.names)
    return found


def test_the_order_lists_every_module() -> None:
    modules = {path.stem for path in PACKAGE.glob("_*.py") if path.stem != "__init__"}

    assert modules == set(ORDER)


def test_each_module_imports_only_modules_below_it() -> None:
    upward = {
        module: sorted(imported - set(ORDER[:position]))
        for position, module in enumerate(ORDER)
        if (imported := internal_imports(module)) - set(ORDER[:position])
    }

    assert {} == upward
