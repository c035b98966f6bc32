"""ctrl+z restores checkpoints in the TUI: what a command deleted, created and changed,
modes too; a file the user changed since is not overwritten without asking; the
palette restores any older checkpoint; the model is told."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from test_command_review import at_gate, cmd
from tui_helpers import make_project, running, wait_for

from kimitui.core.gate import AskGate
from kimitui.demo.script import Turn
from kimitui.tui.undo import CheckpointPickerScreen, UndoConflictScreen

# Deletes app.py, creates notes/new.txt, rewrites README.md and makes run.sh executable.
STEPS = ("rm app.py", "mkdir notes", "echo new > notes/new.txt", "echo gone > README.md")
DAMAGE = " && ".join((*STEPS, "chmod 700 run.sh"))


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(root)): (stat.S_IMODE(p.stat().st_mode), p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def project_with_script(tmp_path: Path) -> Path:
    project = make_project(tmp_path)
    script = project / "run.sh"
    script.write_bytes(b"#!/bin/sh\r\necho hi\r\n")  # CRLF: restored byte for byte
    os.chmod(script, 0o640)
    return project


async def damage(app: Any, pilot: Any, server: Any, project: Path) -> None:
    await at_gate(app, pilot)
    await pilot.press("y")
    await wait_for(pilot, lambda: app.loop_state == "done")
    assert not (project / "app.py").exists() and (project / "notes" / "new.txt").exists()


def notes_sent(server: Any) -> list[str]:
    return [m["content"] for m in server.requests[-1]["messages"] if m["role"] == "user"]


async def ask_again(app: Any, pilot: Any, server: Any) -> None:
    app.agent.queue("what happened?")
    app.agent.resume()
    app.run_worker(app.agent.run(), exclusive=False)
    await wait_for(pilot, lambda: len(server.requests) >= 3)


TURNS = [Turn(tool_calls=(cmd(DAMAGE),)), Turn(content="done"), Turn(content="noted")]


async def test_ctrl_z_restores_a_commands_damage_byte_for_byte(tmp_path: Path) -> None:
    project = project_with_script(tmp_path)
    before = snapshot(project)
    async with running(project, TURNS, task="x", gate=AskGate()) as (app, server, pilot):
        await damage(app, pilot, server, project)
        app.set_focus(None)
        await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: snapshot(project) == before)
        assert not (project / "notes").exists()  # the folder the command made is gone too
        assert "restored the project to before step 1" in app.transcript.plain
        await ask_again(app, pilot, server)
    assert any("the user undid everything from step 1 on" in n for n in notes_sent(server))


async def test_a_file_the_user_changed_since_is_kept_unless_ticked(tmp_path: Path) -> None:
    project = project_with_script(tmp_path)
    before = snapshot(project)
    async with running(project, TURNS, task="x", gate=AskGate()) as (app, server, pilot):
        await damage(app, pilot, server, project)
        (project / "README.md").write_text("my own words\n")  # the user, after the step
        app.set_focus(None)
        await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: isinstance(app.screen, UndoConflictScreen))
        assert app.screen.plan.theirs == ["README.md"]
        assert (project / "notes" / "new.txt").exists()  # nothing restored while it asks
        await pilot.press("ctrl+s")  # nothing ticked: keep the user's README
        await wait_for(pilot, lambda: (project / "app.py").exists())
        assert (project / "README.md").read_text() == "my own words\n"
        expected = {k: v for k, v in before.items() if k != "README.md"}
        assert {k: v for k, v in snapshot(project).items() if k != "README.md"} == expected
        assert "1 left as they are" in " ".join(app.transcript.plain.split())
        await ask_again(app, pilot, server)
    told = next(n for n in notes_sent(server) if "undid everything" in n)
    assert "later changes were kept in: README.md" in told


async def test_ticking_the_users_file_restores_it_and_esc_cancels(tmp_path: Path) -> None:
    project = project_with_script(tmp_path)
    before = snapshot(project)
    async with running(project, TURNS, task="x", gate=AskGate()) as (app, _server, pilot):
        await damage(app, pilot, _server, project)
        (project / "README.md").write_text("my own words\n")
        damaged = snapshot(project)
        app.set_focus(None)
        await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: isinstance(app.screen, UndoConflictScreen))
        await pilot.press("escape")  # cancel: nothing at all changes
        await wait_for(pilot, lambda: not isinstance(app.screen, UndoConflictScreen))
        assert snapshot(project) == damaged
        app.set_focus(None)
        await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: isinstance(app.screen, UndoConflictScreen))
        await pilot.press("space", "ctrl+s")  # tick README.md, then undo
        await wait_for(pilot, lambda: snapshot(project) == before)


async def test_the_palette_restores_an_older_checkpoint(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    before = snapshot(project)
    turns = [
        Turn(tool_calls=(cmd("echo one > one.txt"),)),
        Turn(tool_calls=(cmd("echo two > two.txt"),)),
        Turn(content="done"),
    ]
    async with running(project, turns, task="x", gate=AskGate()) as (app, _server, pilot):
        for _ in range(2):
            await at_gate(app, pilot)
            await pilot.press("y")
        await wait_for(pilot, lambda: app.loop_state == "done")
        assert (project / "two.txt").exists()
        commands = list(app.get_system_commands(app.screen))
        pick = next(c for c in commands if c.title.startswith("Undo to a step"))
        pick.callback()
        await wait_for(pilot, lambda: isinstance(app.screen, CheckpointPickerScreen))
        await pilot.pause()
        await pilot.press("down", "enter")  # newest first: the second row is step 1
        await wait_for(pilot, lambda: snapshot(project) == before)
        assert not app.check_action("undo", ())  # nothing older is left
