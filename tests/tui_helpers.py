"""Helpers for the TUI's Pilot and snapshot tests (no conftest: imported explicitly)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from kimitui.config import Settings
from kimitui.core.gate import AutoGate, Gate
from kimitui.core.journal import Journal
from kimitui.demo.script import ToolCallSpec, TurnSource
from kimitui.demo.server import ScriptedServer
from kimitui.tui.app import KimiApp
from kimitui.wiring import Endpoint, build_agent

THOUGHT = "I am weighing how this module is structured before touching it. "
SIZE = (120, 40)


def call(name: str, args: dict | None = None) -> ToolCallSpec:
    return ToolCallSpec(name, {} if args is None else args)


def make_project(tmp_path: Path, name: str = "shop") -> Path:
    root = tmp_path / name
    root.mkdir()
    (root / "app.py").write_text("def total(xs):\n    return sum(xs)\n")
    (root / "README.md").write_text("# shop\n")
    return root


def new_app(
    project: Path,
    endpoint: Endpoint,
    *,
    gate: Gate | None = None,
    task: str | None = None,
    approval_label: str = "auto",
    watch: bool = False,
    notices: Sequence[tuple[str, str]] = (),
    **settings: Any,
) -> KimiApp:
    agent = build_agent(Settings(**settings), project, endpoint, gate or AutoGate())
    # The undo journal goes next to the project, never into the user's state dir.
    journal = Journal.for_session(agent.client.session_id, agent.project, project.parent / "state")
    return KimiApp(
        agent,
        task=task,
        approval_label=approval_label,
        watch=watch,
        notices=notices,
        journal=journal,
    )


@asynccontextmanager
async def served_app(
    project: Path,
    turns: Sequence[TurnSource],
    *,
    tokens_per_second: float | None = None,
    server_key: str | None = None,
    **kwargs: Any,
) -> AsyncIterator[tuple[KimiApp, ScriptedServer]]:
    async with ScriptedServer(
        turns, tokens_per_second=tokens_per_second, api_key=server_key
    ) as server:
        app = new_app(project, Endpoint(server.base_url, "sk-test"), **kwargs)
        yield app, server


async def wait_for(pilot: Any, predicate: Callable[[], bool], timeout: float = 30.0) -> float:
    """Poll ``predicate`` while the app runs; return the seconds it took.

    The timeout only stops a hung test: a loaded CI machine may be slow, never wrong.
    """
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        await pilot.pause(0.02)
    return time.monotonic() - start


async def type_text(pilot: Any, text: str) -> None:
    await pilot.press(*[{" ": "space", "+": "plus"}.get(ch, ch) for ch in text])


async def settle(pilot: Any) -> None:
    await pilot.pause(0.22)  # more than two stream flushes (FLUSH_S)
    await asyncio.sleep(0)


@asynccontextmanager
async def running(
    project: Path, turns: Sequence[TurnSource], **kwargs: Any
) -> AsyncIterator[tuple[KimiApp, ScriptedServer, Any]]:
    """The app on the scripted server, under Pilot at SIZE."""
    async with (
        served_app(project, turns, **kwargs) as (app, server),
        app.run_test(size=SIZE) as pilot,
    ):
        yield app, server, pilot
