"""Snapshots of the review view: unified, side by side, partial, conflict, refused.

The gate is fed a ProposedEdit made against a real temp project; no model is
called. Fixed texts and a fixed project name keep every SVG the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from tui_helpers import make_project, new_app, wait_for

from kimitui.core.gate import AskGate
from kimitui.tools import make_edit
from kimitui.tui.app import KimiApp
from kimitui.tui.review import ReviewScreen
from kimitui.wiring import Endpoint

SOURCE = '''"""Orders and their totals."""

from dataclasses import dataclass


@dataclass
class Item:
    name: str
    price: float
    quantity: int = 1


def subtotal(items):
    return sum(i.price * i.quantity for i in items)


def discount(total):
    if total > 100:
        return total * 0.1
    return 0


def total(items):
    """The amount to pay."""
    amount = subtotal(items)
    return amount - discount(amount)


def describe(items):
    return ", ".join(i.name for i in items)
'''
EDITS = (
    ("from dataclasses import dataclass\n", "from dataclasses import dataclass\n\nRATE = 0.1\n"),
    ("        return total * 0.1\n", "        return total * RATE\n"),
    (
        '    return ", ".join(i.name for i in items)\n',
        '    names = sorted(i.name for i in items)\n    return ", ".join(names)\n',
    ),
)
PROPOSAL = SOURCE
for _old, _new in EDITS:
    PROPOSAL = PROPOSAL.replace(_old, _new)

Scenario = Callable[[Any], Awaitable[None]]
_tasks: list[asyncio.Task[Any]] = []


def review_app(tmp_path: Path) -> KimiApp:
    project = make_project(tmp_path, "shop")
    (project / "app.py").write_text(SOURCE)
    app = new_app(project, Endpoint("https://api.moonshot.ai/v1", "sk-test"), gate=AskGate())
    app.agent.budget.clock = lambda: 0.0
    return app


async def propose(pilot: Any, path: str, content: str, *, read: bool = True) -> ReviewScreen:
    app: KimiApp = pilot.app
    app.composer.input.cursor_blink = False
    workspace = app.agent.toolbox.workspace
    if read:
        workspace.read_paths.add(path)
    edit = make_edit(workspace, call_id="call_1", tool="write_file", path=path, new_text=content)
    gate = app.ask_gate
    assert gate is not None
    _tasks.append(asyncio.get_running_loop().create_task(gate.review(edit)))
    await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen) and app.screen.review)
    await wait_for(pilot, lambda: app.screen.takes_keys)  # keys count from here on
    await pilot.pause(0.1)
    return app.screen  # type: ignore[return-value]


async def unified(pilot: Any) -> None:
    await propose(pilot, "app.py", PROPOSAL, read=False)  # shows the never-read flag


async def side_by_side(pilot: Any) -> None:
    await propose(pilot, "app.py", PROPOSAL)
    await pilot.press("s")
    await pilot.pause(0.05)


async def partial(pilot: Any) -> None:
    await propose(pilot, "app.py", PROPOSAL)
    await pilot.press("j", "space", "j")
    await pilot.pause(0.05)


async def conflict(pilot: Any) -> None:
    screen = await propose(pilot, "app.py", PROPOSAL)
    project = pilot.app.agent.toolbox.workspace.root
    (project / "app.py").write_text(SOURCE.replace("def describe", "def summary"))
    banner = screen.query_one("#review-banner")
    await wait_for(pilot, lambda: "changed on disk" in str(banner.render()))
    await pilot.pause(0.05)


async def binary(pilot: Any) -> None:
    await propose(pilot, "logo.png", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")


SCENARIOS: dict[str, tuple[Scenario, tuple[int, int]]] = {
    "unified": (unified, (80, 24)),
    "side_by_side": (side_by_side, (120, 30)),
    "wide_auto_split": (unified, (160, 30)),
    "partial": (partial, (80, 24)),
    "conflict": (conflict, (80, 24)),
    "binary_refused": (binary, (80, 24)),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_review_snapshot(name: str, tmp_path: Path, snap_compare: Any) -> None:
    scenario, size = SCENARIOS[name]
    assert snap_compare(review_app(tmp_path), terminal_size=size, run_before=scenario)


@pytest.mark.parametrize("theme", ["kimitui-dark", "kimitui-light", "kimitui-high-contrast"])
def test_review_snapshot_in_each_bundled_theme(
    theme: str, tmp_path: Path, snap_compare: Any
) -> None:
    app = review_app(tmp_path)
    app.theme = theme
    assert snap_compare(app, terminal_size=(100, 24), run_before=partial)
