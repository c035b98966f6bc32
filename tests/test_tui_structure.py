"""The TUI's modules import downward only: nothing imports the App module back."""

from __future__ import annotations

import ast
from pathlib import Path

import kimitui.tui

TUI = Path(kimitui.tui.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, TYPE_CHECKING blocks and function bodies included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_tui_module_imports_the_app_back() -> None:
    offenders = [
        p.name
        for p in sorted(TUI.glob("*.py"))
        if p.name != "app.py" and "kimitui.tui.app" in imported_modules(p)
    ]
    assert offenders == []


def test_the_app_is_built_from_parts_each_under_400_lines() -> None:
    parts = ("app", "host", "agentview", "gatelink", "actions", "keystate", "commands")
    for name in (*parts, "commandjobs", "composer", "completion", "mentions"):
        lines = (TUI / f"{name}.py").read_text(encoding="utf-8").count("\n")
        assert lines <= 400, f"tui/{name}.py has {lines} lines"
