"""Slash commands under Pilot: each one, typed in the composer against the scripted
server (real HTTP), its completion list, the palette entries made from the same
registry, and an unknown command that never reaches the model."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_git_tools import make_repo
from textual.command import CommandPalette
from textual.widgets import Static
from tui_helpers import SIZE, call, make_project, running, type_text, wait_for

from kimitui.core.compaction import SUMMARY_HEADER
from kimitui.core.session import start_session
from kimitui.core.transcript import load_transcript
from kimitui.demo.script import Turn
from kimitui.tools.git import REVIEW_PROMPT
from kimitui.tui.commandjobs import INIT_PROMPT, DiffScreen
from kimitui.tui.commands import COMMANDS, slash_command
from kimitui.tui.help import KEY_GROUPS, HelpScreen

NAMES = ["help", "undo", "diff", "review", "commit", "compact", "cost", "export", "model"]


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIMITUI_CONFIG", str(tmp_path / "cfg" / "config.toml"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "repo")
    (root / "a.py").write_text("x = 10\n")
    return root


def shown(app, text: str) -> bool:
    return any(text in block.text for block in app.transcript.blocks)


def users(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


async def slash(pilot, text: str) -> None:
    """Type a command and send it (Esc first closes the completion list)."""
    await type_text(pilot, text)
    await pilot.press("escape", "enter")
    await pilot.pause(0.05)


async def idle(pilot, app) -> None:
    await wait_for(pilot, lambda: app.agent.state == "done" and not app.run_active)


def test_the_registry_has_every_command_once_and_parses_what_is_typed() -> None:
    names = [c.name for c in COMMANDS]
    assert names == [*NAMES, "clear", "init", "theme"]
    assert slash_command("/model  kimi-x ") == ("model", "kimi-x")
    assert slash_command("/commit fix the cart\nfor real") == ("commit", "fix the cart\nfor real")
    assert slash_command("//model is a path") is None  # "//": a message
    assert slash_command("/usr/bin/env is broken") is None  # no command name
    assert slash_command("fix /model") is None


def test_the_readme_table_lists_every_command() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for command in COMMANDS:
        assert f"| `{command.usage}` |" in readme


async def test_an_unknown_command_is_said_kept_in_the_box_and_never_sent(project: Path) -> None:
    async with running(project, [Turn(content="ok")]) as (app, server, pilot):
        await slash(pilot, "/deploy now")
        await wait_for(pilot, lambda: shown(app, "/deploy is not a command"))
        assert app.composer.input.text == "/deploy now"
        await pilot.pause(0.2)
        assert server.requests == []
        app.composer.input.value = "//deploy is a word"
        await pilot.press("escape", "enter")
        await wait_for(pilot, lambda: len(server.requests) == 1)
    assert users(server.requests[0]) == ["/deploy is a word"]


async def test_slash_lists_the_commands_and_enter_runs_one_that_needs_nothing_more(
    project: Path,
) -> None:
    async with running(project, [Turn(content="ok")]) as (app, server, pilot):
        await type_text(pilot, "/")
        menu = app.composer.completion
        await wait_for(pilot, lambda: menu.is_open)
        assert [c.label for c in menu.choices][:3] == ["/help", "/undo", "/diff"]
        await type_text(pilot, "co")
        assert [c.label for c in menu.choices][:3] == ["/commit [MESSAGE]", "/compact", "/cost"]
        await pilot.press("down", "down", "enter")  # /cost: runs at once
        await wait_for(pilot, lambda: shown(app, "steps 0 · tokens 0"))
        assert app.composer.input.text == ""
        await type_text(pilot, "/mod")
        await wait_for(pilot, lambda: menu.is_open)
        await pilot.press("enter")  # /model needs a NAME: Enter only completes it
        assert app.composer.input.text == "/model "
        assert server.requests == []


async def test_help_opens_the_help_with_the_commands(project: Path) -> None:
    async with running(project, [Turn(content="ok")]) as (app, _server, pilot):
        await slash(pilot, "/help")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
    keys = {key for _title, group in KEY_GROUPS for key, _meaning in group}
    assert {c.usage for c in COMMANDS} <= keys and "@path" in keys


async def test_undo_takes_back_the_last_applied_edit(project: Path) -> None:
    turns = [
        Turn(tool_calls=(call("write_file", {"path": "app.py", "content": "X = 1\n"}),)),
        Turn(content="Wrote it."),
    ]
    before = (project / "app.py").read_text()
    async with running(project, turns, task="rewrite") as (app, _server, pilot):
        await idle(pilot, app)
        assert (project / "app.py").read_text() == "X = 1\n"
        await slash(pilot, "/undo")
        await wait_for(pilot, lambda: (project / "app.py").read_text() == before)


async def test_diff_shows_the_working_tree_diff_and_needs_git(repo: Path, project: Path) -> None:
    async with running(repo, [Turn(content="ok")]) as (app, _server, pilot):
        await slash(pilot, "/diff")
        await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen))
        await pilot.pause()
        text = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert "-x = 1" in text and "+x = 10" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DiffScreen))
    async with running(project, [Turn(content="ok")]) as (app, _server, pilot):
        await slash(pilot, "/diff")
        await wait_for(pilot, lambda: shown(app, "/diff needs a git work tree"))


async def test_review_commit_and_init_send_their_prompts(repo: Path) -> None:
    turns = [Turn(content="reviewed"), Turn(content="committed"), Turn(content="written")]
    async with running(repo, turns) as (app, server, pilot):
        await slash(pilot, "/review")
        await wait_for(pilot, lambda: len(server.requests) == 1)
        await idle(pilot, app)
        await slash(pilot, "/commit Bump x to ten")
        await wait_for(pilot, lambda: len(server.requests) == 2)
        await idle(pilot, app)
        await slash(pilot, "/init")
        await wait_for(pilot, lambda: len(server.requests) == 3)
    assert users(server.requests[0]) == [REVIEW_PROMPT]
    commit = users(server.requests[1])[-1]
    assert "git_commit" in commit and "Use this commit message: Bump x to ten" in commit
    assert users(server.requests[2])[-1] == INIT_PROMPT


async def test_compact_summarises_the_earlier_steps(project: Path) -> None:
    reads = [Turn(tool_calls=(call("read_file", {"path": "app.py"}),)) for _ in range(4)]
    turns = [*reads, Turn(content="read it all"), Turn(content="THE SUMMARY OF WORK")]
    async with running(project, turns, task="read app.py a lot") as (app, server, pilot):
        await idle(pilot, app)
        before = len(app.agent.messages)
        await slash(pilot, "/compact")
        await wait_for(pilot, lambda: shown(app, "context compacted"))
        assert len(server.requests) == 6  # five steps, then the summary call
        assert len(app.agent.messages) < before
        summary = [m for m in app.agent.messages if SUMMARY_HEADER in str(m.get("content"))]
        assert summary and "THE SUMMARY OF WORK" in summary[0]["content"]


async def test_cost_and_export_report_in_the_transcript(project: Path) -> None:
    async with running(project, [Turn(content="ok")], task="hi") as (app, _server, pilot):
        await idle(pilot, app)
        await slash(pilot, "/cost")
        await wait_for(pilot, lambda: shown(app, "steps 1 · tokens"))
        assert shown(app, "cost")
        await slash(pilot, "/export")
        await wait_for(pilot, lambda: shown(app, "nothing to export"))


async def test_model_switches_the_model_for_the_next_call(project: Path) -> None:
    async with running(project, [Turn(content="ok"), Turn(content="ok")]) as (app, srv, pilot):
        await slash(pilot, "/model")
        await wait_for(pilot, lambda: shown(app, "type a model name after /model"))
        assert app.composer.input.text == "/model "
        await type_text(pilot, "kimi-other-1")
        await pilot.press("enter")
        await wait_for(pilot, lambda: shown(app, "model switched to kimi-other-1"))
        status = str(app.query_one("#status-left", Static).render())
        assert "kimi-other-1" in status
        await slash(pilot, "/model bad name;rm")
        await wait_for(pilot, lambda: shown(app, "is not a model name"))
        app.composer.input.value = "hello"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(srv.requests) == 1)
    assert srv.requests[0]["model"] == "kimi-other-1"


async def test_clear_starts_a_fresh_conversation_in_the_same_session(project: Path) -> None:
    turns = [Turn(content="first answer"), Turn(content="second answer")]
    async with running(project, turns) as (app, server, pilot):
        recorder = start_session(app.agent, task="first task")
        app.composer.input.value = "first task"
        await pilot.press("enter")
        await idle(pilot, app)
        await slash(pilot, "/clear")
        await wait_for(pilot, lambda: shown(app, "conversation cleared"))
        app.composer.input.value = "second task"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(server.requests) == 2)
        await idle(pilot, app)
    recorder.close()
    # The saved session goes on, and a resume starts from the fresh conversation.
    saved = load_transcript(recorder.path)
    assert [m["role"] for m in saved.messages] == ["system", "user", "assistant"]
    assert saved.messages[1]["content"] == "second task"
    roles = [m["role"] for m in server.requests[1]["messages"]]
    assert roles == ["system", "user"] and users(server.requests[1]) == ["second task"]
    assert "first" not in str(server.requests[1]["messages"])


async def test_theme_by_name_or_from_the_picker(project: Path) -> None:
    async with running(project, [Turn(content="ok")]) as (app, _server, pilot):
        await slash(pilot, "/theme textual-light")
        await wait_for(pilot, lambda: app.theme == "textual-light")
        await slash(pilot, "/theme no-such-theme")
        await wait_for(pilot, lambda: shown(app, "no theme 'no-such-theme'"))
        await slash(pilot, "/theme")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))


async def test_the_palette_offers_every_command(repo: Path) -> None:
    async with running(repo, [Turn(content="ok")]) as (app, _server, _pilot):
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {c.title for c in COMMANDS} <= titles


async def test_commands_that_need_git_leave_the_palette_outside_a_work_tree(
    project: Path,
) -> None:
    async with running(project, [Turn(content="ok")]) as (app, _server, _pilot):
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Review my changes" not in titles and "Show the working tree's diff" not in titles
        assert "Switch model" in titles


def test_command_list_snapshot(tmp_path: Path, snap_compare) -> None:
    from test_tui_snapshots import offline_app, ready

    async def run_before(pilot) -> None:
        await ready(pilot)
        await type_text(pilot, "/c")
        await wait_for(pilot, lambda: pilot.app.composer.completion.is_open)
        await pilot.pause(0.1)

    assert snap_compare(offline_app(tmp_path), terminal_size=SIZE, run_before=run_before)
