"""Runs as a user lives them in the TUI: verdicts, undo, pause, the time budget, resume, the demo.

Pilot drives the app against the scripted server over loopback; sessions are
saved in a temp state dir and resumed the way `kimitui --resume` does it.
"""

from __future__ import annotations

import socket
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from textual.widgets._footer import FooterKey
from tui_helpers import (
    SIZE,
    THOUGHT,
    call,
    make_project,
    new_app,
    running,
    type_text,
    wait_for,
)

from kimitui.config import Settings
from kimitui.core import events as ev
from kimitui.core.gate import AskGate, AutoGate
from kimitui.core.loop import INTERRUPTED_MARK
from kimitui.core.prices import KNOWN_PRICES, known_prices
from kimitui.core.session import start_session
from kimitui.core.transcript import load_transcript
from kimitui.demo import DEMO_TASK, copy_sample, demo_turns
from kimitui.demo import refactor as demo
from kimitui.demo.script import Turn
from kimitui.demo.server import ScriptedServer
from kimitui.launch import record_session
from kimitui.tui.app import KimiApp
from kimitui.tui.footer import WrappingFooter, natural_width
from kimitui.tui.history import earlier_events
from kimitui.tui.review import ReviewScreen
from kimitui.wiring import Endpoint, build_agent, build_prices

BASE = "".join(f"line {i}\n" for i in range(1, 31))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path)


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "state"
    monkeypatch.setenv("KIMITUI_STATE_DIR", str(folder))
    return folder


def write(path: str, content: str) -> Any:
    return call("write_file", {"path": path, "content": content})


async def open_review(app: Any, pilot: Any, path: str) -> ReviewScreen:
    def shown() -> bool:
        screen = app.screen
        return (
            isinstance(screen, ReviewScreen)
            and screen.review is not None
            and screen.review.edit.path == path
        )

    await wait_for(pilot, shown)
    # The review holds keys for a moment after it opens (typing must not decide).
    await wait_for(pilot, lambda: app.screen.takes_keys)
    await pilot.pause(0.05)
    return app.screen


async def finish(app: Any, pilot: Any) -> None:
    await wait_for(pilot, lambda: app.agent.state == "done" and not app.run_active)


def row_text(app: KimiApp, call_id: str) -> str:
    return str(app.tools.get_cell(call_id, "status"))


# -- item 6: verdicts ---------------------------------------------------------------------


async def test_rows_say_applied_partial_rejected_and_no_hunk_is_a_rejection(
    project: Path,
) -> None:
    (project / "b.py").write_text(BASE)
    two_hunks = BASE.replace("line 2\n", "line two\n").replace("line 28\n", "line 28!\n")
    turns = [
        Turn(tool_calls=(call("read_file", {"path": "b.py"}), write("new.py", "x = 1\n"))),
        Turn(tool_calls=(write("b.py", two_hunks),)),
        Turn(tool_calls=(write("app.py", "def total(xs):\n    return 0\n"),)),
        Turn(content="ok"),
    ]
    original_app = (project / "app.py").read_text()
    decided: list[ev.EditDecided] = []
    async with running(project, turns, task="go", gate=AskGate()) as (app, server, pilot):
        app.agent.subscribe(lambda e: decided.append(e) if isinstance(e, ev.EditDecided) else None)
        await open_review(app, pilot, "new.py")
        await pilot.press("y")
        screen = await open_review(app, pilot, "b.py")
        await pilot.press("space")  # leave the first of two hunks out
        assert screen.diff.selected == {1}
        await pilot.press("y")
        screen = await open_review(app, pilot, "app.py")
        await pilot.press("space")  # the only hunk out: nothing left to apply
        assert screen.diff.selected == set()
        await pilot.press("y")
        await finish(app, pilot)
        rows = {r.arguments.get("path"): r for r in app.tools.records.values()}
        texts = {path: row_text(app, r.id) for path, r in rows.items()}
    assert [d.verdict for d in decided] == ["approved", "partial", "rejected"]
    assert (rows["new.py"].status, rows["b.py"].status) == ("applied", "partial")
    assert rows["app.py"].status == "rejected" and rows["b.py"].status != "ok"
    assert texts == {
        "b.py": "◐ partial",
        "new.py": "✓ applied",
        "app.py": "✗ rejected",
    }
    assert (project / "app.py").read_text() == original_app
    result = server.requests[3]["messages"][-1]["content"]
    assert result.startswith("The user rejected the write_file edit to app.py")


# -- item 7: an undo after the run ----------------------------------------------------------


async def test_an_undo_after_the_run_is_saved_and_told_after_resume(
    project: Path, state: Path
) -> None:
    turns = [
        Turn(tool_calls=(write("util.py", "X = 1\n"),)),
        Turn(content="Added util.py."),
        Turn(content="Understood."),
    ]
    async with ScriptedServer(turns) as server:
        endpoint = Endpoint(server.base_url, "sk-test")
        first = build_agent(Settings(), project, endpoint, AutoGate())
        async with AsyncExitStack() as stack:
            recording = record_session(stack, first, "add util", False, None)
            app = KimiApp(first, task="add util", watch=False, journal=recording.journal)
            async with app.run_test(size=SIZE) as pilot:
                await finish(app, pilot)
                assert (project / "util.py").exists()
                await pilot.press("ctrl+z")
                await wait_for(pilot, lambda: not (project / "util.py").exists())
                await pilot.press("ctrl+q")  # quit before any other message
        transcript = load_transcript(recording.transcript)
        notices = [e["text"] for e in transcript.events() if e["type"] == "notice"]
        assert any(n.startswith("restored the project to before step 1") for n in notices)

        # `kimitui --resume`: the same session id, its transcript and its journal.
        second = build_agent(Settings(), project, endpoint, AutoGate(), session_id=transcript.id)
        async with AsyncExitStack() as stack:
            resumed = record_session(stack, second, None, False, transcript)
            assert any("told of 1 undo" in n.text for n in resumed.notices)
            done = await second.run("what now?")
            await second.client.close()
    assert done.reason == "finished"
    sent = server.requests[-1]["messages"]
    assert (
        sent[-2]["role"] == "user"
        and "the user undid everything from step 1 on" in (sent[-2]["content"])
        and "util.py changed back" in sent[-2]["content"]
    )
    assert sent[-1] == {"role": "user", "content": "what now?"}
    # Told once: a second resume owes nothing.
    again = load_transcript(recording.transcript)
    third = build_agent(Settings(), project, endpoint, AutoGate(), session_id=again.id)
    async with AsyncExitStack() as stack:
        assert not any(
            "undo" in n.text for n in record_session(stack, third, None, False, again).notices
        )
        await third.client.close()


# -- item 8: a pause armed in the last step -------------------------------------------------


async def test_a_pause_armed_in_the_last_step_does_not_hold_the_follow_up(project: Path) -> None:
    # A long first answer, so a loaded machine still presses ctrl+s while it streams.
    turns = [Turn(reasoning=THOUGHT * 150, content="First answer."), Turn(content="Second.")]
    states: list[str] = []
    async with running(project, turns, task="one", tokens_per_second=600) as (app, server, pilot):
        await wait_for(pilot, lambda: bool(app.reasoning.plain))
        await pilot.press("ctrl+s")  # pause before the next model call: there is none
        assert app.agent.paused
        await finish(app, pilot)
        assert not app.agent.paused
        app.agent.subscribe(
            lambda e: states.append(e.state) if isinstance(e, ev.StateChanged) else None
        )
        await type_text(pilot, "two")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(server.requests) == 2)
        await finish(app, pilot)
        shown = app.transcript.plain
    assert "paused" not in states
    assert "Second." in shown


# -- item 11: the time budget and the gate ----------------------------------------------------


async def test_time_at_the_gate_does_not_count_against_the_time_budget(project: Path) -> None:
    turns = [Turn(tool_calls=(write("new.py", "x = 1\n"),)), Turn(content="Done.")]
    now = [0.0]
    async with running(project, turns, task="go", gate=AskGate(), time_budget=60.0) as (
        app,
        server,
        pilot,
    ):
        app.agent.budget.clock = lambda: now[0]  # a clock the test moves
        await open_review(app, pilot, "new.py")
        now[0] += 3600.0  # an hour reading the diff
        await pilot.press("y")
        await finish(app, pilot)
        elapsed = app.agent.budget.elapsed
        shown = app.transcript.plain
    assert len(server.requests) == 2 and app.budget_out is None
    assert elapsed < 60.0
    assert "finished" in shown


# -- item 13: resume -----------------------------------------------------------------------


async def test_a_resumed_step_lists_its_call_once_and_keeps_its_marks(
    project: Path, state: Path
) -> None:
    turns = [
        Turn(tool_calls=(call("read_file", {"path": "app.py"}),)),
        Turn(tool_calls=(write("b.py", "B = 1\n"),)),
        Turn(tool_calls=(write("app.py", "def total(xs):\n    return sum(xs, 0)\n"),)),
        Turn(content="Done."),
    ]
    async with ScriptedServer(turns) as server:
        endpoint = Endpoint(server.base_url, "sk-test")
        first = build_agent(Settings(), project, endpoint, gate := AskGate())
        recorder = start_session(first, task="go")
        first.subscribe(gate.observe)
        decided = {"b.py": False}

        def on_gate() -> None:
            review = gate.current
            if review is not None and review.edit.path == "b.py" and not decided["b.py"]:
                decided["b.py"] = gate.decide(review.edit.id, _approve(review))
            elif review is not None and review.edit.path == "app.py":
                recorder.close()  # killed while app.py waits at the gate
                first.stop()

        gate.subscribe(on_gate)
        await first.run("go")
        await first.client.close()

        transcript = load_transcript(recorder.path)
        second = build_agent(
            Settings(), project, endpoint, second_gate := AskGate(), session_id=transcript.id
        )
        async with AsyncExitStack() as stack:
            recording = record_session(stack, second, None, False, transcript)
            notices = [(n.level, n.text) for n in recording.notices]
            app = KimiApp(
                second,
                watch=False,
                notices=notices,
                continue_run=True,
                history=earlier_events(transcript.events()),
                journal=recording.journal,
            )
            async with app.run_test(size=SIZE) as pilot:
                await pilot.pause(0.1)
                marks = {p: app.project_tree.marker(p) for p in ("b.py", "app.py")}
                await open_review(app, pilot, "app.py")
                await pilot.press("y")
                await finish(app, pilot)
                shown = app.transcript.plain
                rows = [(r.step, r.name, r.status) for r in app.tools.records.values()]
        assert second_gate.turn_reviews == [] or all(
            not r.pending for r in second_gate.turn_reviews
        )
    assert "cut short when kimitui stopped; run again now (write_file)" in shown
    summary = next(line for line in shown.splitlines() if "step 3 ·" in line)
    assert summary.count("write_file(app.py)") == 1, summary
    assert marks["b.py"] == "ours"
    assert marks["app.py"] in ("read", "pending")
    assert rows == [
        (1, "read_file", "ok"),
        (2, "write_file", "applied"),
        (3, "write_file", "applied"),
    ]
    assert "sum(xs, 0)" in (project / "app.py").read_text()


def _approve(review: Any) -> Any:
    from kimitui.tools.edits import Decision

    return Decision.approve_all(review.edit)


# -- item 16 and the demo's start ------------------------------------------------------------


async def test_the_demo_reads_a_partial_apply_and_lists_app_py(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    copy_sample(target)
    async with running(target, demo_turns(), task=DEMO_TASK, gate=AskGate(), max_steps=30) as (
        app,
        server,
        pilot,
    ):
        for path in ("models.py", "logic.py"):
            await open_review(app, pilot, path)
            await pilot.press("y")
        screen = await open_review(app, pilot, "app.py")
        assert screen.diff.hunk_count > 1
        await pilot.press("j", "j", "space")  # keep every hunk but one
        await pilot.press("y")

        # Whatever else the model proposes is applied (a key pressed while the
        # review still holds keys would be taken as typing, not as a decision).
        def settled() -> bool:
            if isinstance(app.screen, ReviewScreen) and app.screen.review is not None:
                return app.screen.takes_keys
            return app.agent.state == "done" and not app.run_active

        while app.agent.state != "done" or app.run_active:
            await wait_for(pilot, settled, timeout=60)
            if isinstance(app.screen, ReviewScreen) and app.screen.review is not None:
                await pilot.press("y")
                await pilot.pause(0.05)
        text = app.transcript.plain
        answer = next(
            b.text for b in reversed(app.transcript.blocks) if b.prefix.startswith("kimi")
        )
    assert "rejected" not in text.lower()
    final = server.requests[-1]["messages"]
    assert any(
        m["role"] == "tool" and m["content"].startswith("Partially applied write_file to app.py")
        for m in final
    )
    assert "app.py" in answer


def test_the_demo_does_not_take_an_interrupted_answer_for_the_end() -> None:
    assert demo.INTERRUPTED_MARK == INTERRUPTED_MARK
    body = {
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": DEMO_TASK},
            {"role": "assistant", "content": f"Let me look\n\n{INTERRUPTED_MARK}"},
            {"role": "user", "content": "only move the dataclasses for now"},
        ]
    }
    turn = demo.demo_turn(body)
    assert "already wrapped up" not in turn.reasoning
    assert "only move the dataclasses for now" in turn.reasoning
    assert turn.tool_calls and turn.tool_calls[0].name == "list_files"
    partial = demo.History(
        calls=[
            demo.Call(
                "write_file",
                {"path": "app.py"},
                "Partially applied write_file to app.py (+3 -9): the user approved 2 of 3 hunks.\n"
                "Applied hunks: @@ -1 +1 @@\nRejected hunks (not applied): @@ -77,14 +77,3 @@",
            )
        ]
    )
    assert partial.rejected == [] and partial.applied("app.py") and partial.partial == ["app.py"]


async def test_esc_before_the_first_token_interrupts(project: Path) -> None:
    """As in the demo's first second: the endpoint listens but has not answered anything yet."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # connections wait in its backlog
        endpoint = Endpoint(f"http://127.0.0.1:{silent.getsockname()[1]}/v1", "sk-test")
        app = new_app(project, endpoint, task="go")
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.run_active)
            assert app.agent.state == "idle"  # still asking the endpoint about the model
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.agent.state == "waiting")
            assert app.agent.budget.steps == 0  # no model call was started
            await pilot.press("escape")  # and Esc again ends the run
            await wait_for(pilot, lambda: not app.run_active)
            assert "run ended: stopped by the user" in app.transcript.plain


# -- a cost out of the box ------------------------------------------------------------------


async def test_the_meter_shows_a_cost_at_the_models_list_price(project: Path) -> None:
    async with running(project, [Turn(reasoning="short", content="hi")], task="go") as (
        app,
        _server,
        pilot,
    ):
        await finish(app, pilot)
        budget = app.agent.budget
        shown = str(app.query_one("#meter-cost").render())
        tooltip = app.query_one("#meter-cost").tooltip
    expected = known_prices("kimi-k2.7-code")
    assert expected is not None and budget.used.total > 0
    assert budget.cost == pytest.approx(expected.cost(budget.used))
    assert shown.endswith(f"${budget.cost:.4f}")
    assert "kimi-k2.7-code list prices as of" in str(tooltip) and "[prices]" in str(tooltip)


def test_prices_from_config_win_and_an_unknown_model_has_none() -> None:
    configured = build_prices(Settings(price_input=1.0, price_output=2.0, currency="EUR"))
    assert (configured.input, configured.output, configured.currency) == (1.0, 2.0, "EUR")
    assert not build_prices(Settings(model="some-other-model")).known
    for name, price in KNOWN_PRICES.items():
        assert price.as_of and price.source, name
        assert 0 < price.cached_input <= price.input < price.output


async def test_the_palette_lists_keys_once(project: Path) -> None:
    async with running(project, []) as (app, _server, pilot):
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
    assert "Keys and help" in titles and "Keys" not in titles
    assert len(titles) == len(set(titles))


async def test_the_demo_starts_with_a_one_line_intro(tmp_path: Path) -> None:
    from kimitui.launch import demo_intro

    intro = demo_intro(tmp_path)
    assert "\n" not in intro and str(tmp_path) in intro
    async with running(tmp_path, [], notices=[("info", intro)]) as (app, _server, pilot):
        await pilot.pause()
        first = app.transcript.blocks[0].text
    assert first == intro


async def test_at_60_columns_the_gate_footer_shows_every_key(project: Path) -> None:
    turns = [Turn(tool_calls=(write("app.py", "x = 1\n"),)), Turn(content="ok")]
    async with running(project, turns, task="go", gate=AskGate()) as (app, _server, pilot):
        await pilot.resize_terminal(60, 20)
        screen = await open_review(app, pilot, "app.py")
        footer = screen.query_one(WrappingFooter)
        await wait_for(pilot, lambda: footer.wrapped)
        await pilot.pause(0.1)
        keys = list(footer.query(FooterKey))
        shown = {k.description: (k.region, natural_width(k)) for k in keys}
        await pilot.resize_terminal(*SIZE)
        await wait_for(pilot, lambda: not footer.wrapped)
        await pilot.press("y")
        await finish(app, pilot)
    assert {"apply", "reject", "edit", "approve turn", "split"} <= set(shown)
    for description, (region, width) in shown.items():
        assert region.right <= 60 and region.width >= width, description
    assert len({region.y for region, _ in shown.values()}) == 2
