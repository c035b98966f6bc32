"""The review gate under Pilot, against the scripted server over loopback."""

from __future__ import annotations

import hashlib
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static
from tui_helpers import call, make_project, running, type_text, wait_for

from kimitui.core.gate import NEVER_FEEDBACK, AskGate, NeverGate
from kimitui.demo.script import Turn
from kimitui.tui import guard, review
from kimitui.tui.dialogs import QuitScreen
from kimitui.tui.editor import EditorScreen
from kimitui.tui.review import ReviewScreen

BASE = "".join(f"line {i}\n" for i in range(1, 31))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path)


def tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def tool_results(server: Any, request: int) -> list[tuple[str, str]]:
    messages = server.requests[request]["messages"]
    return [(m["tool_call_id"], m["content"]) for m in messages if m["role"] == "tool"]


def write(path: str, content: str) -> Any:
    return call("write_file", {"path": path, "content": content})


async def open_review(app: Any, pilot: Any, path: str | None = None) -> ReviewScreen:
    def shown() -> bool:
        screen = app.screen
        if not isinstance(screen, ReviewScreen) or screen.review is None:
            return False
        return path is None or screen.review.edit.path == path

    await wait_for(pilot, shown)
    # The review holds keys for a moment after it opens (typing must not decide).
    await wait_for(pilot, lambda: app.screen.takes_keys)
    await pilot.pause(0.05)
    return app.screen


async def finish(app: Any, pilot: Any) -> None:
    await wait_for(pilot, lambda: app.agent.state == "done" and not app.run_active)


def outside(path: Path, text: str) -> None:
    """Another process changes a file."""
    script = "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text(sys.argv[2])"
    subprocess.run([sys.executable, "-c", script, str(path), text], check=True)


async def test_approve_applies_and_nothing_touches_disk_before(project: Path) -> None:
    new = "def total(xs):\n    return sum(xs, 0)\n"
    turns = [Turn(tool_calls=(write("app.py", new),)), Turn(content="ok")]
    before = tree_hash(project)
    async with running(project, turns, task="fix", gate=AskGate()) as (app, server, pilot):
        screen = await open_review(app, pilot)
        assert app.agent.state == "review" and tree_hash(project) == before
        title = str(screen.query_one("#review-title").render())
        assert "app.py · modified · +1 \u22121 · 1/1 hunks" in title
        assert "without having read it" in str(screen.query_one("#review-banner").render())
        await pilot.press("y")
        await finish(app, pilot)
    assert (project / "app.py").read_text() == new
    assert tool_results(server, 1)[0][1] == "Applied write_file to app.py (+1 -1)."


async def test_reject_with_feedback_leaves_the_tree_byte_identical(project: Path) -> None:
    turns = [Turn(tool_calls=(write("app.py", "x = 1\n"),)), Turn(content="ok")]
    before = tree_hash(project)
    async with running(project, turns, task="fix", gate=AskGate()) as (app, server, pilot):
        await open_review(app, pilot)
        await pilot.press("n")
        await type_text(pilot, "keep total, add a docstring")
        await pilot.press("enter")
        await finish(app, pilot)
    assert tree_hash(project) == before
    assert tool_results(server, 1)[0][1] == (
        "The user rejected the write_file edit to app.py; the file is unchanged.\n"
        "User feedback: keep total, add a docstring"
    )


async def test_approve_never_leaves_the_tree_byte_identical(project: Path) -> None:
    turns = [
        Turn(tool_calls=(write("app.py", "x = 1\n"), write("new.py", "y = 2\n"))),
        Turn(content="ok"),
    ]
    before = tree_hash(project)
    async with running(project, turns, task="fix", gate=NeverGate()) as (app, server, pilot):
        await finish(app, pilot)
    assert tree_hash(project) == before
    assert all(NEVER_FEEDBACK in text for _, text in tool_results(server, 1))


async def test_hunks_one_and_three_of_three(project: Path) -> None:
    (project / "app.py").write_text(BASE)
    new = BASE.replace("line 2\n", "line two\n").replace("line 15\n", "line fifteen\n")
    new = new.replace("line 28\n", "line twenty-eight\n")
    turns = [
        Turn(tool_calls=(call("read_file", {"path": "app.py"}),)),
        Turn(tool_calls=(write("app.py", new),)),
        Turn(content="ok"),
    ]
    async with running(project, turns, task="edit", gate=AskGate()) as (app, server, pilot):
        screen = await open_review(app, pilot)
        assert screen.diff.hunk_count == 3
        await pilot.press("j", "space")
        assert screen.diff.selected == {0, 2}
        assert "2/3 hunks" in str(screen.query_one("#review-title").render())
        await pilot.press("y")
        await finish(app, pilot)
    expected = BASE.replace("line 2\n", "line two\n").replace("line 28\n", "line twenty-eight\n")
    assert (project / "app.py").read_text() == expected
    result = tool_results(server, 2)[-1][1]
    assert result.startswith("Partially applied write_file to app.py (+2 -2): the user approved 2")
    assert "Rejected hunks (not applied): @@ -12,7 +12,7 @@" in result


async def test_edit_in_editor_before_applying(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "editor.py"
    script.write_text(
        "import pathlib, sys\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('/ len(xs)', '/ max(len(xs), 1)'))\n"
    )
    monkeypatch.setenv("EDITOR", f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}")
    proposal = (
        "def total(xs):\n    return sum(xs)\n\n\ndef mean(xs):\n    return sum(xs) / len(xs)\n"
    )
    turns = [Turn(tool_calls=(write("app.py", proposal),)), Turn(content="ok")]
    async with running(project, turns, task="mean", gate=AskGate()) as (app, server, pilot):
        await open_review(app, pilot)
        await pilot.press("e")
        await finish(app, pilot)
    written = proposal.replace("/ len(xs)", "/ max(len(xs), 1)")
    assert (project / "app.py").read_text() == written
    result = tool_results(server, 1)[0][1]
    assert "but the user edited your proposal before applying it" in result
    assert "-    return sum(xs) / len(xs)\n+    return sum(xs) / max(len(xs), 1)" in result


async def test_conflict_from_another_process_then_explicit_overwrite(project: Path) -> None:
    proposal = "def total(xs):\n    return sum(xs, 0)\n"
    turns = [Turn(tool_calls=(write("app.py", proposal),)), Turn(content="ok")]
    async with running(project, turns, task="fix", gate=AskGate()) as (app, server, pilot):
        screen = await open_review(app, pilot)
        outside(project / "app.py", "def total(xs):\n    return 0\n")
        banner = screen.query_one("#review-banner")
        await wait_for(pilot, lambda: "changed on disk" in str(banner.render()))
        await pilot.press("y")  # refused: the conflict must be resolved explicitly
        await pilot.pause(0.2)
        assert screen.review is not None and app.agent.state == "review"
        await pilot.press("o")
        await finish(app, pilot)
    assert (project / "app.py").read_text() == proposal
    result = tool_results(server, 1)[0][1]
    assert "the user chose to overwrite those changes with your version" in result


async def test_conflict_reapplies_an_edit_file_whose_old_string_still_matches(
    project: Path,
) -> None:
    edit = call(
        "edit_file",
        {"path": "app.py", "old_string": "return sum(xs)", "new_string": "return sum(xs, 0)"},
    )
    turns = [Turn(tool_calls=(edit,)), Turn(content="ok")]
    theirs = "def total(xs):\n    return sum(xs)\n\n\ndef other():\n    pass\n"
    async with running(project, turns, task="fix", gate=AskGate()) as (app, server, pilot):
        screen = await open_review(app, pilot)
        outside(project / "app.py", theirs)
        banner = screen.query_one("#review-banner")
        await wait_for(pilot, lambda: "re-applied onto the new content" in str(banner.render()))
        await pilot.press("y")
        await finish(app, pilot)
    assert (project / "app.py").read_text() == theirs.replace("sum(xs)", "sum(xs, 0)")
    result = tool_results(server, 1)[0][1]
    assert result.startswith("app.py changed on disk while your edit waited for review;")


async def test_two_writes_in_one_turn_are_reviewed_in_order(project: Path) -> None:
    turns = [
        Turn(tool_calls=(write("a.py", "A = 1\n"), write("b.py", "B = 2\n"))),
        Turn(content="ok"),
    ]
    async with running(project, turns, task="two", gate=AskGate()) as (app, server, pilot):
        screen = await open_review(app, pilot, "a.py")
        assert not (project / "b.py").exists()
        await pilot.press("y")
        screen = await open_review(app, pilot, "b.py")
        turn_line = str(screen.query_one("#review-turn").render())
        assert "✓ a.py" in turn_line and "▸ b.py" in turn_line
        assert (project / "a.py").exists() and not (project / "b.py").exists()
        await pilot.press("n", "enter")
        await finish(app, pilot)
    results = tool_results(server, 1)
    assert [text.split(";")[0].split(" (")[0] for _, text in results] == [
        "Applied write_file to a.py",
        "The user rejected the write_file edit to b.py",
    ]
    assert [cid for cid, _ in results] == [c["id"] for c in server.requests[1]["messages"][-3][
        "tool_calls"
    ]]  # fmt: skip


async def test_a_approves_the_rest_of_the_turn(project: Path) -> None:
    turns = [
        Turn(tool_calls=(write("a.py", "A = 1\n"), write("b.py", "B = 2\n"))),
        Turn(content="ok"),
    ]
    async with running(project, turns, task="two", gate=AskGate()) as (app, server, pilot):
        await open_review(app, pilot, "a.py")
        await pilot.press("a")
        await finish(app, pilot)
    assert (project / "a.py").read_text() == "A = 1\n" and (project / "b.py").exists()
    assert all(text.startswith("Applied") for _, text in tool_results(server, 1))


async def test_session_toggle_switches_to_auto_approve_and_back(project: Path) -> None:
    turns = [Turn(tool_calls=(write("a.py", "A = 1\n"),)), Turn(content="ok")]
    async with running(project, turns, gate=AskGate()) as (app, _server, pilot):
        status = app.query_one("#status-left")
        assert "approve: ask ·" in str(status.render())
        await pilot.press("ctrl+t")
        assert "approve: auto ·" in str(status.render())
        await type_text(pilot, "go")
        await pilot.press("enter")
        await finish(app, pilot)
        assert (project / "a.py").exists()
        await pilot.press("ctrl+t")
        assert "approve: ask ·" in str(status.render())


async def test_undo_twice_walks_back_and_the_model_is_told(project: Path) -> None:
    turns = [
        Turn(tool_calls=(write("util.py", "X = 1\n"),)),
        Turn(
            tool_calls=(
                call(
                    "edit_file",
                    {"path": "app.py", "old_string": "sum(xs)", "new_string": "sum(xs, 0)"},
                ),
            )
        ),
        Turn(content="done"),
        Turn(content="noted"),
    ]
    original = (project / "app.py").read_text()
    async with running(project, turns, task="go", gate=AskGate()) as (app, server, pilot):
        await open_review(app, pilot, "util.py")
        await pilot.press("y")
        await open_review(app, pilot, "app.py")
        await pilot.press("y")
        await finish(app, pilot)
        await wait_for(pilot, lambda: not isinstance(app.screen, ReviewScreen))
        assert "sum(xs, 0)" in (project / "app.py").read_text()
        await type_text(pilot, "u")  # the composer has the focus: typed, not undone
        assert app.composer.input.value == "u" and "sum(xs, 0)" in (project / "app.py").read_text()
        await pilot.press("ctrl+z")  # with a draft, ctrl+z undoes the typing, not a file
        assert app.composer.input.value == "" and "sum(xs, 0)" in (project / "app.py").read_text()
        await pilot.press("ctrl+z")  # the last step: the edit to app.py
        assert (project / "app.py").read_text() == original
        assert "restored the project to before step 2: 1 file(s) restored" in app.transcript.plain
        await pilot.press("tab", "u")  # no letter undoes: u goes to the composer as text
        assert (project / "util.py").exists() and app.composer.input.value == "u"
        await pilot.press("backspace", "ctrl+z")  # the step before: util.py is created again
        assert not (project / "util.py").exists()
        assert not app.check_action("undo", ())  # no checkpoint left: ctrl+z is inactive
        app.composer.input.focus()
        await type_text(pilot, "continue")
        await pilot.press("enter")
        await finish(app, pilot)
    last = server.requests[3]["messages"][-3:]
    assert [m["role"] for m in last] == ["user", "user", "user"]
    assert last[0]["content"].startswith("Note from kimitui: the user undid everything from step 2")
    assert "app.py changed back" in last[0]["content"]
    assert "from step 1 on" in last[1]["content"] and "util.py changed back" in last[1]["content"]
    assert last[2]["content"] == "continue"


# -- keys that land where they were meant (issue 20) ----------------------------------

NEW_TOTAL = "def total(xs):\n    return sum(xs, 0)\n"


async def test_typing_while_the_gate_opens_decides_nothing_and_stays_text(project: Path) -> None:
    turns = [Turn(tool_calls=(write("app.py", NEW_TOTAL),)), Turn(content="ok")]
    before = tree_hash(project)
    async with running(project, turns, task="fix", gate=AskGate()) as (app, _server, pilot):
        app.agent.pause()  # held before its first model call while the user starts typing
        await wait_for(pilot, lambda: app.agent.state == "paused")
        gate = app.ask_gate
        await type_text(pilot, "please also ")
        app.agent.resume()
        await wait_for(pilot, lambda: gate.current is not None)
        await pilot.pause(0.1)
        # y, n, a decide, e edits, space toggles a hunk: none of them may act on the review.
        await type_text(pilot, "add type hints to everything you touch, yes a neat one")
        await pilot.pause(0.4)  # longer than the key guard
        assert app.composer.input.value == (
            "please also add type hints to everything you touch, yes a neat one"
        )
        assert gate.current is not None and gate.turn_reviews[0].status == "pending"
        assert not isinstance(app.screen, (ReviewScreen, EditorScreen))
        assert tree_hash(project) == before
        line = str(app.query_one("#gate-waiting").render())
        assert "app.py waits for your review" in line and "ctrl+g" in line
        await pilot.press("ctrl+g")  # asked for: the review opens and takes keys at once
        screen = app.screen
        assert isinstance(screen, ReviewScreen) and screen.diff.selected == {0}
        await pilot.press("y")
        await finish(app, pilot)
        assert app.composer.input.value.startswith("please also add type hints")
    assert (project / "app.py").read_text() == NEW_TOTAL


async def test_keys_in_the_moment_a_review_opens_are_ignored(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guard, "GUARD_S", 60.0)  # hold the keys for the whole test
    turns = [
        Turn(tool_calls=(write("a.py", "A = 1\n"), write("b.py", "B = 2\n"))),
        Turn(content="ok"),
    ]
    async with running(project, turns, task="two", gate=AskGate()) as (app, _server, pilot):
        gate = app.ask_gate
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen) and app.screen.review)
        screen = app.screen
        await pilot.press("down", "tab", "escape", "ctrl+t", "enter")
        assert screen.diff.selected == {0} and screen.diff.cursor == 0  # no toggle, no move
        assert gate.current is not None and not gate.auto_approve
        assert isinstance(app.screen, ReviewScreen) and screen.review is not None
        # Text (space, then e, which would open the editor): the user was typing, so the
        # review steps aside and the text goes to the composer.
        await pilot.press("space", "e")
        await wait_for(pilot, lambda: not isinstance(app.screen, ReviewScreen))
        await wait_for(pilot, lambda: app.composer.input.has_focus)
        assert app.composer.input.value == " e"
        assert gate.current is not None and gate.current.edit.path == "a.py"
        assert not (project / "a.py").exists()
        app.composer.input.value = ""
        await pilot.press("ctrl+g")
        await pilot.press("y", "y")  # a double tap: the second is no answer for b.py
        await wait_for(pilot, lambda: (project / "a.py").exists())
        await wait_for(pilot, lambda: gate.current is not None and gate.current.edit.path == "b.py")
        await pilot.pause(0.1)
        assert not (project / "b.py").exists() and gate.current.status == "pending"
        if not isinstance(app.screen, ReviewScreen):
            # b.py's review opened as a new screen just as the second y came: it was
            # taken as typing, went to the composer, and the review stepped aside.
            assert app.composer.input.value == "y"
            app.composer.input.value = ""
            await pilot.press("ctrl+g")
            await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await_screen = app.screen
        assert isinstance(await_screen, ReviewScreen)
        await_screen.arm()
        await pilot.press("y")
        await finish(app, pilot)
    assert (project / "b.py").read_text() == "B = 2\n"


async def test_ctrl_g_looks_behind_the_review_and_keeps_the_hunks_chosen(project: Path) -> None:
    (project / "app.py").write_text(BASE)
    new = BASE.replace("line 2\n", "line two\n").replace("line 28\n", "line twenty-eight\n")
    turns = [
        Turn(reasoning="Rename two lines for clarity.", tool_calls=(write("app.py", new),)),
        Turn(content="ok"),
    ]
    async with running(project, turns, task="edit", gate=AskGate()) as (app, _server, pilot):
        screen = await open_review(app, pilot)
        await pilot.press("j", "space")
        assert screen.diff.selected == {0}
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: not isinstance(app.screen, ReviewScreen))
        # The conversation is back: the reasoning that led to the edit, transcript, tree.
        assert "Rename two lines" in app.transcript.plain + app.reasoning.plain
        assert app.project_tree.marker("app.py") == "pending"
        await wait_for(pilot, lambda: app.composer.input.has_focus)
        assert app.ask_gate.current is not None
        app.transcript.focus()
        await pilot.pause()
        await pilot.press("escape")  # behind the review, Esc does not interrupt the run
        assert app.composer.input.has_focus
        assert app.agent.state == "review" and app.ask_gate.current is not None
        await pilot.press("ctrl+g")
        screen = app.screen
        assert isinstance(screen, ReviewScreen) and screen.diff.selected == {0}
        await pilot.press("y")
        await finish(app, pilot)
    assert (project / "app.py").read_text() == BASE.replace("line 2\n", "line two\n")


async def test_esc_leaves_the_in_app_editor_without_applying(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EDITOR", raising=False)
    turns = [Turn(tool_calls=(write("app.py", NEW_TOTAL),)), Turn(content="ok")]
    original = (project / "app.py").read_text()
    async with running(project, turns, task="fix", gate=AskGate()) as (app, _server, pilot):
        screen = await open_review(app, pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EditorScreen))
        await type_text(pilot, "oops")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        await pilot.pause(0.2)
        assert (project / "app.py").read_text() == original
        assert app.ask_gate.current is not None and screen.review is not None
        await pilot.press("y")  # the proposal as it was, without the typing
        await finish(app, pilot)
    assert (project / "app.py").read_text() == NEW_TOTAL


async def test_no_conflict_banner_after_the_in_app_editor_applies(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.setattr(review, "CLOSE_AFTER_S", 30.0)  # keep the view open after the apply
    turns = [Turn(tool_calls=(write("app.py", NEW_TOTAL),)), Turn(content="ok")]
    async with running(project, turns, task="fix", gate=AskGate()) as (app, _server, pilot):
        screen = await open_review(app, pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EditorScreen))
        app.screen.query_one("#editor-area").insert("# edited\n", (0, 0))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: (project / "app.py").read_text().startswith("# edited"))
        await wait_for(pilot, lambda: app.screen is screen)
        screen._poll_disk()  # what the 0.3 s poll does: the file did change, by our write
        await pilot.pause(0.4)
        banner = screen.query_one("#review-banner")
        assert "changed on disk" not in str(banner.render())
        await finish(app, pilot)
    assert (project / "app.py").read_text() == "# edited\n" + NEW_TOTAL


async def test_quit_with_an_edit_waiting_asks_first(project: Path) -> None:
    turns = [Turn(tool_calls=(write("app.py", NEW_TOTAL),)), Turn(content="ok")]
    original = (project / "app.py").read_text()
    async with running(project, turns, task="fix", gate=AskGate()) as (app, _server, pilot):
        await open_review(app, pilot)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen))
        text = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert "app.py waits for your review" in text and "unapplied" in text
        await pilot.press("escape")  # stay
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        assert app.is_running and app.ask_gate.current is not None
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen))
        await pilot.press("ctrl+q")  # again: quit
        await wait_for(pilot, lambda: not app.is_running)
    assert (project / "app.py").read_text() == original
