"""The git parts of the TUI under Pilot: the commit gate, the header, the palette."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_git_tools import git, make_repo
from textual.command import CommandList, CommandPalette
from textual.widgets import Static, TextArea
from tui_helpers import call, running, type_text, wait_for

from kimitui.core.gate import AskGate
from kimitui.demo.script import Turn
from kimitui.tools.git import REVIEW_PROMPT, TRAILER, CommitRequest
from kimitui.tui.commitreview import CommitReviewScreen


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIMITUI_CONFIG", str(tmp_path / "cfg" / "config.toml"))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "repo")
    (root / "a.py").write_text("x = 10\n")
    (root / "b.py").write_text("y = 20\n")
    hook = root / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 0\n")
    hook.chmod(0o755)
    return root


COMMIT = [
    Turn(tool_calls=[call("git_commit", {"message": "Bump x", "paths": ["a.py"]})]),
    Turn(content="done"),
]


def left(app) -> str:
    return str(app.query_one("#status-left", Static).render())


async def test_commit_waits_at_the_gate_and_commits_the_edited_message(repo: Path) -> None:
    async with running(repo, COMMIT, task="commit", gate=AskGate()) as (app, server, pilot):
        await wait_for(pilot, lambda: isinstance(app.screen, CommitReviewScreen))
        await pilot.pause()
        screen = app.screen
        assert "Bump x" in screen.query_one("#commit-message", TextArea).text
        shown = str(screen.query_one("#commit-hooks", Static).render())
        assert "pre-commit" in shown and "in the sandbox" in shown
        diff = str(screen.query_one("#commit-diff-text", Static).render())
        assert "+x = 10" in diff and "b.py" not in diff
        assert git(repo, "log", "--format=%s").split("\n")[0] == "first"
        await pilot.pause(0.35)  # past the key guard
        screen.query_one("#commit-message", TextArea).text = "Bump x to ten"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(server.requests) >= 2)
        await wait_for(pilot, lambda: "git: main" in left(app))
    body = git(repo, "log", "-1", "--format=%B")
    assert body.startswith("Bump x to ten") and TRAILER in body
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["a.py"]


async def test_esc_declines_and_the_model_is_told(repo: Path) -> None:
    async with running(repo, COMMIT, task="commit", gate=AskGate()) as (app, server, pilot):
        await wait_for(pilot, lambda: isinstance(app.screen, CommitReviewScreen))
        await pilot.pause(0.35)
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(server.requests) >= 2)
    result = next(m for m in server.requests[1]["messages"] if m["role"] == "tool")["content"]
    assert "the user declined the commit" in result
    assert git(repo, "log", "--format=%s").strip() == "first"


async def test_header_shows_branch_and_dirty_count(repo: Path) -> None:
    async with running(repo, [Turn(content="ok")]) as (app, _server, pilot):
        await wait_for(pilot, lambda: "git: main +2" in left(app))


async def test_palette_review_my_changes_sends_the_review_prompt(repo: Path) -> None:
    async with running(repo, [Turn(content="looks fine")]) as (app, server, pilot):
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await type_text(pilot, "review my changes")
        commands = app.screen.query_one(CommandList)
        await wait_for(pilot, lambda: commands.option_count > 0)
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(server.requests) >= 1)
    users = [m["content"] for m in server.requests[0]["messages"] if m["role"] == "user"]
    assert users == [REVIEW_PROMPT]


DIFF = """diff --git a/app.py b/app.py
index 1111111..2222222 100644
--- a/app.py
+++ b/app.py
@@ -1,2 +1,2 @@
 def total(xs):
-    return sum(xs)
+    return sum(xs, 0)
"""


async def open_commit_gate(pilot) -> None:
    from test_tui_snapshots import ready

    app = await ready(pilot)
    request = CommitRequest(
        call_id="c1",
        message=f"Make total start from zero\n\n{TRAILER}",
        paths=("app.py",),
        files=("app.py",),
        diff=DIFF,
        hooks=("pre-commit", "commit-msg"),
        branch="main",
        sandbox="bwrap",
    )
    app.push_screen(CommitReviewScreen(request))
    await pilot.pause()
    app.screen.query_one("#commit-message", TextArea).cursor_blink = False
    await pilot.pause(0.1)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_commit_gate_snapshot(size: tuple[int, int], tmp_path: Path, snap_compare) -> None:
    from test_tui_snapshots import offline_app

    app = offline_app(tmp_path, "ask")
    assert snap_compare(app, terminal_size=size, run_before=open_commit_gate)
