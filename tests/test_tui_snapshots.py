"""Snapshots of the TUI in the states a user must be able to read at a glance.

The app is driven by the Agent's own event stream (``agent.emit``) with fixed
text, a frozen budget clock, no cursor blink and a fixed project folder name,
so every SVG is the same on every run. The live paths behind these states are
covered by the Pilot tests in test_tui.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest
from tui_helpers import make_project, new_app, type_text, wait_for

from kimitui.core import events as ev
from kimitui.core.budget import TokenUsage
from kimitui.core.llm import ClientConfig, classify_status
from kimitui.tui.app import KimiApp
from kimitui.tui.approval import approval_for
from kimitui.wiring import Endpoint

SIZES = [(80, 24), (200, 50)]
BASE_URL = "https://api.moonshot.ai/v1"
TASK = "Split app.py by concern and keep the tests passing."
THOUGHT = (
    "app.py mixes three jobs: the data classes, the pricing rules and the I/O. "
    "The tests import total() from app, so app must keep re-exporting it. "
    "I will read the tests first, then move the dataclasses into models.py.\n\n"
    "Before moving anything I want to know which names the tests use"
)

Scenario = Callable[[Any], Awaitable[None]]


def offline_app(tmp_path: Path, approval: str = "auto") -> KimiApp:
    """An app whose model is never called: the scenario feeds it events."""
    project = make_project(tmp_path, "shop")
    chosen = approval_for(approval)
    notices = [("warning", chosen.notice)] if chosen.notice else []
    app = new_app(
        project,
        Endpoint(BASE_URL, "sk-test"),
        gate=chosen.gate,
        approval_label=chosen.label,
        notices=notices,
        max_steps=25,
    )
    app.agent.budget.clock = lambda: 0.0
    return app


async def ready(pilot: Any) -> KimiApp:
    app: KimiApp = pilot.app
    app.composer.input.cursor_blink = False
    await wait_for(pilot, lambda: len(app.project_tree.root.children) >= 2)
    return app


def emit(app: KimiApp, *events: ev.Event) -> None:
    for event in events:
        app.agent.emit(event)


def start_step(app: KimiApp, n: int) -> None:
    app.agent.budget.steps = n
    emit(app, ev.StepStarted(n), ev.StateChanged("thinking"))


def usage(app: KimiApp, prompt: int, completion: int, cached: int, reasoning: int) -> None:
    budget = app.agent.budget
    budget.record(TokenUsage(prompt, completion, reasoning, cached))
    emit(
        app,
        ev.UsageReport(
            prompt,
            completion,
            reasoning,
            cached,
            prompt + completion,
            budget.context_pct,
            budget.used.total,
        ),
    )


def finished_step_one(app: KimiApp) -> None:
    emit(app, ev.UserMessage(TASK, "task"))
    start_step(app, 1)
    emit(app, ev.Reasoning("Look at the project layout first."))
    usage(app, 1840, 96, 0, 40)
    emit(
        app,
        ev.StateChanged("tools"),
        ev.ToolCall("functions.list_files:0", "list_files", {}),
        ev.ToolOutput("functions.list_files:0", "list_files", True, "app.py\nREADME.md", 0.01),
    )


async def mid_stream(pilot: Any) -> None:
    app = await ready(pilot)
    finished_step_one(app)
    start_step(app, 2)
    for word in THOUGHT.split(" "):
        emit(app, ev.ReasoningDelta(word + " "))
    await pilot.pause(0.15)


async def tool_error(pilot: Any) -> None:
    app = await ready(pilot)
    finished_step_one(app)
    start_step(app, 2)
    emit(app, ev.Reasoning("Read the code, search for callers, run the tests."))
    usage(app, 2310, 140, 1790, 60)
    calls = [
        (
            "functions.read_file:1",
            "read_file",
            {"path": "app.py"},
            True,
            "def total(xs):\n    return sum(xs)\n",
            0.01,
        ),
        ("functions.search:2", "search", {"pattern": "total("}, True, "app.py:1: def total", 0.02),
        (
            "functions.run_tests:3",
            "run_tests",
            {},
            False,
            "error: 1 failed, 4 passed\nFAILED test_app.py::test_total - ImportError",
            1.62,
        ),
    ]
    emit(app, ev.StateChanged("tools"))
    for call_id, name, args, ok, output, seconds in calls:
        emit(
            app, ev.ToolCall(call_id, name, args), ev.ToolOutput(call_id, name, ok, output, seconds)
        )
    start_step(app, 3)
    emit(app, ev.ReasoningDelta("The test imports total from app; the move broke it."))
    await pilot.pause(0.15)


async def paused_with_message(pilot: Any) -> None:
    app = await ready(pilot)
    finished_step_one(app)
    app.agent.pause()
    emit(app, ev.StateChanged("paused"))
    await pilot.click("#composer-input")
    await type_text(pilot, "keep total() in app.py")
    await pilot.press("enter")
    await type_text(pilot, "and add type hints")
    await pilot.pause(0.1)


async def budget_at_90(pilot: Any) -> None:
    app = await ready(pilot)
    limits = app.agent.budget.limits
    limits.max_steps, limits.token_budget = 10, 40_000
    app.agent.budget.context_window = 32_768
    finished_step_one(app)
    start_step(app, 9)
    usage(app, 29_400, 1_100, 24_000, 700)
    app.agent.budget.last_prompt = 29_700  # 90.6% of the window
    emit(
        app,
        ev.UsageReport(0, 0, 0, 0, 0, app.agent.budget.context_pct, app.agent.budget.used.total),
    )
    emit(app, ev.ReasoningDelta("Nearly there: one more edit and the tests."))
    await pilot.pause(0.15)


def auth_error_text() -> str:
    request = httpx.Request("POST", f"{BASE_URL}/chat/completions")
    body = {"error": {"message": "Invalid Authentication", "type": "invalid_authentication_error"}}
    response = httpx.Response(401, request=request, json=body)
    err = openai.AuthenticationError("Invalid Authentication", response=response, body=body)
    config = ClientConfig(base_url=BASE_URL, api_key="sk-test", model="kimi-k2.7-code")
    return str(classify_status(err, config))


async def auth_error(pilot: Any) -> None:
    app = await ready(pilot)
    emit(app, ev.UserMessage(TASK, "task"))
    start_step(app, 1)
    text = auth_error_text()
    emit(app, ev.Notice(text, "error"), ev.StateChanged("error"), ev.Done("error", text))
    await pilot.pause(0.1)


SCENARIOS: dict[str, tuple[Scenario, str]] = {
    "mid_stream": (mid_stream, "auto"),
    "tool_error": (tool_error, "auto"),
    "paused_with_message": (paused_with_message, "auto"),
    "budget_at_90": (budget_at_90, "auto"),
    "auth_error": (auth_error, "ask"),
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_snapshot(name: str, size: tuple[int, int], tmp_path: Path, snap_compare: Any) -> None:
    scenario, approval = SCENARIOS[name]
    app = offline_app(tmp_path, approval)
    assert snap_compare(app, terminal_size=size, run_before=scenario)
