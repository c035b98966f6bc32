"""The command gate in the TUI: review, feedback, typed confirmation, allow keys,
live output; and a snapshot of a destructive command waiting at the gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tui_helpers import call, make_project, new_app, running, type_text, wait_for

from kimitui.core.allowstore import load_allowed
from kimitui.core.gate import AskGate
from kimitui.demo.script import Turn
from kimitui.tools.confine import RunRequest
from kimitui.tui.commandreview import CommandReviewScreen
from kimitui.wiring import Endpoint


def cmd(command: str) -> Any:
    return call("run_command", {"command": command})


def shown(app: Any) -> str:
    return " ".join(str(w.render()) for w in app.screen.query("Static"))


async def at_gate(app: Any, pilot: Any) -> None:
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, CommandReviewScreen) and app.screen.query("#cmd-keys"),
    )
    await pilot.pause()


def answers(server: Any) -> list[str]:
    return [m["content"] for m in server.requests[-1]["messages"] if m["role"] == "tool"]


async def test_destructive_command_waits_and_no_with_feedback_reaches_the_model(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path)
    turns = [Turn(tool_calls=(cmd("rm -rf app.py README.md"),)), Turn(content="ok")]
    async with running(project, turns, task="clean", gate=AskGate()) as (app, server, pilot):
        await at_gate(app, pilot)
        text = shown(app)
        assert "deletes or overwrites files" in text
        assert "rm -r -f: app.py (1 file), README.md (1 file)" in text
        assert "sandbox: bwrap" in text and str(project) in text
        await pilot.press("n")
        await type_text(pilot, "keep the readme")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(server.requests) >= 2)
    assert answers(server) == ["error: the command did not run: keep the readme"]
    assert (project / "app.py").exists() and (project / "README.md").exists()


async def test_yes_runs_and_output_streams_into_the_tool_pane(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    line = "for i in 1 2 3 4 5 6; do echo line$i; sleep 0.4; done"
    turns = [Turn(tool_calls=(cmd(line),)), Turn(content="ok")]
    async with running(project, turns, task="loop", gate=AskGate()) as (app, server, pilot):
        await at_gate(app, pilot)
        await pilot.press("y")
        records = app.tools.records
        await wait_for(pilot, lambda: any("line1" in r.output for r in records.values()))
        record = next(iter(records.values()))
        assert record.status == "running" and "line6" not in record.output
        await wait_for(pilot, lambda: record.status == "ok")
        assert record.output.startswith("exit code 0") and "line6" in record.output
        await wait_for(pilot, lambda: len(server.requests) >= 2)


async def test_outside_the_project_needs_the_word_typed(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    turns = [Turn(tool_calls=(cmd("rm -rf ~/kimitui-test-nothing-here"),)), Turn(content="ok")]
    async with running(project, turns, task="x", gate=AskGate()) as (app, server, pilot):
        await at_gate(app, pilot)
        assert "OUTSIDE the project" in shown(app)
        assert app.screen.query_one("#cmd-dialog").has_class("outside")
        await pilot.press("y")  # one key is not enough
        await pilot.press("y", "enter")  # nor a wrong word
        await pilot.pause(0.2)
        assert isinstance(app.screen, CommandReviewScreen) and len(server.requests) == 1
        field = app.screen.query_one("#cmd-input")
        field.value = ""
        await type_text(pilot, "run")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(server.requests) >= 2)
    assert answers(server)[0].startswith("exit code 0")


async def test_always_allow_for_the_session_and_saved_for_the_project(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    turns = [
        Turn(tool_calls=(cmd("wc -l app.py"),)),
        Turn(tool_calls=(cmd("wc -c app.py"),)),
        Turn(tool_calls=(cmd("head -1 app.py"),)),
        Turn(content="ok"),
    ]
    gate = AskGate()
    async with running(project, turns, task="x", gate=gate) as (app, server, pilot):
        await at_gate(app, pilot)
        await pilot.press("a")  # wc, for this session: runs, and the second wc never asks
        await wait_for(pilot, lambda: len(server.requests) >= 3)
        await at_gate(app, pilot)
        assert "head -1 app.py" in shown(app)
        await pilot.press("s")
        await wait_for(pilot, lambda: len(server.requests) >= 4)
    assert [a.split("\n")[0] for a in answers(server)] == ["exit code 0"] * 3
    assert load_allowed(project) == ["head"]
    assert app.agent.toolbox.commands.policy.allow == (("wc",), ("head",))


def test_snapshot_of_a_destructive_command_at_the_gate(tmp_path: Path, snap_compare: Any) -> None:
    project = make_project(tmp_path)
    app = new_app(project, Endpoint("https://api.moonshot.ai/v1", "sk-test"), gate=AskGate())
    request = RunRequest(
        "call_1",
        "run_command",
        ("/bin/sh", "-c", "git clean -fdx && rm -rf build dist ~/.cache/shop"),
        "/home/you/shop",
        "bwrap",
        line="git clean -fdx && rm -rf build dist ~/.cache/shop",
        flags=(
            "git clean: untracked files (only known when it runs)",
            "rm -r -f: build (214 files), dist (3 files), ~/.cache/shop (1 file, OUTSIDE the "
            "project)",
        ),
        outside=True,
        prefix=("git", "clean"),
        why_asked=("`git clean -fdx` is not covered by [commands] allow",),
    )

    async def show(pilot: Any) -> None:
        app.composer.input.cursor_blink = False
        app.push_screen(CommandReviewScreen(request))
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 30), run_before=show)


async def test_undo_the_last_step_from_the_palette_and_the_model_hears(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    before = (project / "app.py").read_bytes()
    turns = [
        Turn(tool_calls=(cmd("rm app.py && echo new > notes.txt"),)),
        Turn(content="done"),
        Turn(content="noted"),
    ]
    async with running(project, turns, task="x", gate=AskGate()) as (app, server, pilot):
        await at_gate(app, pilot)
        await pilot.press("y")
        await wait_for(pilot, lambda: app.loop_state == "done")
        assert not (project / "app.py").exists()
        commands = list(app.get_system_commands(app.screen))
        undo = next(c for c in commands if c.title.startswith("Undo the last step"))
        undo.callback()
        assert (project / "app.py").read_bytes() == before
        assert not (project / "notes.txt").exists()
        app.agent.queue("what happened?")
        app.agent.resume()
        app.run_worker(app.agent.run(), exclusive=False)
        await wait_for(pilot, lambda: len(server.requests) >= 3)
    notes = [m["content"] for m in server.requests[-1]["messages"] if m["role"] == "user"]
    assert any("the user undid everything from step 1 on" in n for n in notes)
