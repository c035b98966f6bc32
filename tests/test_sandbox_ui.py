"""What the user sees of the sandbox: the header, the unconfined-run question, doctor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tui_helpers import call, make_project, running, wait_for

from kimitui.core.gate import AskGate
from kimitui.demo.script import Turn
from kimitui.tui import guard
from kimitui.tui.dialogs import RunApprovalScreen
from kimitui.tui.guard import GUARD_S


async def test_header_names_the_sandbox(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    async with running(project, [Turn(content="hi")]) as (app, _server, pilot):
        await pilot.pause()
        header = str(app.query_one("#status-left").render())
        assert "sandbox: bwrap" in header


async def test_unconfined_run_waits_for_a_yes_and_a_no_reaches_the_model(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path)
    (project / "test_app.py").write_text("def test_ok():\n    assert True\n")
    turns = [
        Turn(tool_calls=(call("run_tests"),)),
        Turn(tool_calls=(call("run_tests"),)),
        Turn(content="ok"),
    ]
    gate = AskGate()
    async with running(project, turns, task="test", gate=gate, sandbox_mechanism="none") as (
        app,
        server,
        pilot,
    ):
        assert "sandbox: none" in str(app.query_one("#status-left").render())
        await wait_for(pilot, lambda: isinstance(app.screen, RunApprovalScreen))

        def shown() -> str:
            return " ".join(str(w.render()) for w in app.screen.query("Static"))

        await wait_for(pilot, lambda: "NO sandbox" in shown())  # composed
        assert "-m pytest" in shown()
        first = app.screen
        await pilot.pause(GUARD_S + 0.05)  # keys typed as it opens decide nothing
        await pilot.press("n")
        await wait_for(
            pilot, lambda: isinstance(app.screen, RunApprovalScreen) and app.screen is not first
        )
        await pilot.pause(GUARD_S + 0.05)
        await pilot.press("y")
        await wait_for(pilot, lambda: len(server.requests) >= 3)
    tool_messages = [m for m in server.requests[2]["messages"] if m["role"] == "tool"]
    assert "the user did not let run_tests run" in tool_messages[0]["content"]
    assert tool_messages[1]["content"].startswith("run_tests: PASSED")


async def test_a_key_typed_as_the_question_opens_runs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long hold, so a loaded machine cannot make the key arrive after it.
    monkeypatch.setattr(guard, "GUARD_S", 30.0)
    project = make_project(tmp_path)
    turns = [Turn(tool_calls=(call("run_tests"),)), Turn(content="ok")]
    async with running(project, turns, task="test", gate=AskGate(), sandbox_mechanism="none") as (
        app,
        server,
        pilot,
    ):
        await wait_for(pilot, lambda: isinstance(app.screen, RunApprovalScreen))
        await pilot.press("y")  # meant for the composer, a moment too late
        await pilot.pause(0.1)
        assert isinstance(app.screen, RunApprovalScreen)
        assert len(server.requests) == 1


def test_doctor_reports_level_and_promises(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    env = {**os.environ, "KIMITUI_CONFIG": str(config), "KIMITUI_STATE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "kimitui", "doctor", "--json"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["sandbox"] == "bwrap"
    assert {row["held_by"] for row in info["promises"]} >= {"pid namespace", "network namespace"}
    assert info["config"] == str(config) and info["state_dir"] == str(tmp_path)
    config.write_text('[sandbox]\nmechanism = "none"\n')
    text = subprocess.run(
        [sys.executable, "-m", "kimitui", "doctor"], capture_output=True, text=True, env=env
    ).stdout
    assert text.startswith("sandbox:     none")
    assert "nothing: not confined" in text
    assert "ask: each run waits for your yes" in text
    config.write_text('[sandbox]\nmechanism = "jail"\n')
    bad = subprocess.run(
        [sys.executable, "-m", "kimitui", "doctor"], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 1
    assert "[sandbox] mechanism: expected one of auto, bwrap, landlock" in bad.stdout
