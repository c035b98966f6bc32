"""The TUI driven by Pilot against the real scripted server over loopback."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.command import CommandList, CommandPalette
from tui_helpers import (
    SIZE,
    THOUGHT,
    call,
    make_project,
    running,
    served_app,
    settle,
    type_text,
    wait_for,
)

from kimitui.core import events as ev
from kimitui.core.loop import INTERRUPTED_MARK
from kimitui.demo import stream as demo_stream
from kimitui.demo.script import Turn
from kimitui.tui.app import KimiApp
from kimitui.tui.help import KEY_GROUPS, HelpScreen
from kimitui.tui.preview import FilePreviewScreen
from kimitui.tui.review import ReviewScreen
from kimitui.tui.textview import TextView
from kimitui.tui.toolpane import ToolDetailScreen


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path)


def state_label(app: Any) -> str:
    return str(app.query_one("#status-state").render())


async def test_reasoning_streams_and_every_tool_call_gets_a_row(project: Path) -> None:
    turns = [
        Turn(
            reasoning=THOUGHT * 40,
            tool_calls=(
                call("read_file", {"path": "app.py"}),
                call("read_file", {"path": "missing.py"}),
            ),
        ),
        Turn(reasoning="Now answer.", content="app.py sums a list."),
    ]
    async with (
        served_app(project, turns, tokens_per_second=300, task="explain app.py") as (
            app,
            server,
        ),
        app.run_test(size=SIZE) as pilot,
    ):
        await wait_for(pilot, lambda: len(app.reasoning.plain) > 40)
        # Visible while the first step is still streaming.
        assert server.served == 0 and app.agent.state == "thinking"
        assert app.reasoning.plain.startswith(THOUGHT[:40])
        await wait_for(pilot, lambda: app.agent.state == "done")
        await settle(pilot)
        rows = {r.key_argument: r.status for r in app.tools.records.values()}
        assert rows == {"app.py": "ok", "missing.py": "error"}
        assert app.tools.row_count == 2
        assert "app.py sums a list." in app.transcript.plain
        assert "step 1 · thought" in app.transcript.plain  # the old step, one line
        assert "done" in state_label(app)
        assert app.project_tree.marker("app.py") == "read"
    assert server.errors == []


async def test_message_typed_mid_run_reaches_the_model_before_its_next_step(
    project: Path,
) -> None:
    steer = "use a generator, not a list"

    def expects_steer(body: dict) -> str | None:
        last = body["messages"][-1]
        return None if last == {"role": "user", "content": steer} else f"last was {last}"

    turns = [
        Turn(reasoning=THOUGHT * 60, tool_calls=(call("list_files"),)),
        Turn(content="Will do.", expect=expects_steer),
    ]
    async with served_app(project, turns, tokens_per_second=300, task="tidy app.py") as (
        app,
        server,
    ):
        at_delivery: dict[str, Any] = {}

        def spy(event: ev.Event) -> None:  # subscribed first: runs before the app's listener
            if isinstance(event, ev.UserMessage) and event.kind == "steer":
                at_delivery["pending"] = str(app.query_one("#pending").render())
                at_delivery["requests"] = len(server.requests)

        app.agent.subscribe(spy)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: bool(app.reasoning.plain))
            assert server.served == 0  # the first step is still streaming
            # (Pilot's press waits for the app to be idle, i.e. for the stream to end.)
            app.composer.input.type_text(steer)
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.agent.state == "done")
            await settle(pilot)
            assert not app.query_one("#pending").display
            assert f"you (steer) ▸ {steer}" in app.transcript.plain
    assert steer in at_delivery["pending"]  # shown as pending until delivered
    assert at_delivery["requests"] == 1  # delivered before the model's next step
    assert server.errors == []
    assert len(server.requests) == 2


async def test_escape_interrupts_the_stream_and_the_next_request_is_valid(
    project: Path,
) -> None:
    turns = [
        Turn(reasoning=THOUGHT * 200, content="never said", tool_calls=(call("list_files"),)),
        Turn(content="Stopping there."),
    ]
    async with (
        served_app(project, turns, tokens_per_second=300, task="think hard") as (
            app,
            server,
        ),
        app.run_test(size=SIZE) as pilot,
    ):
        await wait_for(pilot, lambda: len(app.reasoning.plain) > 20)
        await pilot.press("escape")
        try:
            await wait_for(pilot, lambda: app.agent.state == "waiting")
        except AssertionError as err:
            raise AssertionError(
                f"{err}; agent={app.agent.state} app={app.loop_state} focus={app.focused} "
                f"screen={app.screen} requests={len(server.requests)} served={server.served}"
            ) from err
        await settle(pilot)
        assert len(server.requests) == 1
        assert "interrupted" in state_label(app)
        assert INTERRUPTED_MARK in app.transcript.plain
        assert app.tools.row_count == 0  # calls of a cut stream never run
        await type_text(pilot, "just stop")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.agent.state == "done")
    assert server.errors == []
    messages = server.requests[1]["messages"]
    assert messages[-2]["role"] == "assistant" and INTERRUPTED_MARK in messages[-2]["content"]
    assert messages[-1] == {"role": "user", "content": "just stop"}


async def test_ctrl_s_holds_the_loop_before_the_next_request(project: Path) -> None:
    turns = [
        Turn(reasoning=THOUGHT * 60, tool_calls=(call("list_files"),)),
        Turn(content="Listed."),
    ]
    async with (
        served_app(project, turns, tokens_per_second=300, task="list") as (
            app,
            server,
        ),
        app.run_test(size=SIZE) as pilot,
    ):
        await wait_for(pilot, lambda: bool(app.reasoning.plain))
        await pilot.press("ctrl+s")
        assert app.composer.input.value == ""  # a shortcut, not typed text
        await wait_for(pilot, lambda: app.agent.state == "paused")
        await pilot.pause(0.4)
        assert len(server.requests) == 1
        assert "paused" in state_label(app)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.agent.state == "done")
    assert len(server.requests) == 2
    assert server.errors == []


async def test_meter_shows_the_usage_the_server_sent(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict] = []
    real = demo_stream.build_usage

    def recording(*args: Any, **kwargs: Any) -> dict:
        usage = real(*args, **kwargs)
        sent.append(usage)
        return usage

    monkeypatch.setattr(demo_stream, "build_usage", recording)
    turns = [
        Turn(reasoning="Look.", tool_calls=(call("read_file", {"path": "app.py"}),)),
        Turn(reasoning="Again.", tool_calls=(call("list_files"),)),
        Turn(content="Done."),
    ]
    async with running(project, turns, task="look") as (app, _server, pilot):
        await wait_for(pilot, lambda: app.agent.state == "done")
        await settle(pilot)
        prompt = sum(u["prompt_tokens"] for u in sent)
        completion = sum(u["completion_tokens"] for u in sent)
        cached = sum(u["cached_tokens"] for u in sent)
        text = {w.id: str(w.render()) for w in app.meter.query("Static")}
    assert len(sent) == 3
    assert text["meter-steps"].endswith("3/25")
    assert text["meter-tokens"].endswith(f"{prompt + completion:,}")
    assert prompt + completion < 10_000  # shown exactly below that
    assert f"in {prompt:,} · {cached:,} cached" in text["meter-in"]
    assert f"out {completion:,} · " in text["meter-out"]


async def test_budget_runs_out_then_ctrl_r_raises_it_and_continues(project: Path) -> None:
    turns = [Turn(tool_calls=(call("list_files"),)), Turn(content="All listed.")]
    async with running(project, turns, task="list", max_steps=1) as (app, server, pilot):
        await wait_for(pilot, lambda: app.budget_out == "max_steps")
        await settle(pilot)
        assert "budget used up" in state_label(app)
        assert "Press ctrl+r to raise it" in app.transcript.plain
        assert app.meter.query_one("#meter-steps").has_class("-error")
        await pilot.press("plus")  # typed: the composer has the focus
        assert app.composer.input.value == "+" and app.budget_out == "max_steps"
        await pilot.press("backspace", "ctrl+r")
        await wait_for(pilot, lambda: app.agent.state == "done" and not app.run_active)
        assert "All listed." in app.transcript.plain
        assert app.agent.budget.limits.max_steps == 11
    assert len(server.requests) == 2 and server.errors == []


async def test_pending_message_can_be_withdrawn_or_edited(project: Path) -> None:
    turns = [Turn(tool_calls=(call("list_files"),)), Turn(content="ok")]
    async with running(project, turns, task="list") as (app, _server, pilot):
        app.agent.pause()
        await wait_for(pilot, lambda: app.agent.state == "paused")
        await type_text(pilot, "first note")
        await pilot.press("enter")
        await type_text(pilot, "second note")
        await pilot.press("enter")
        assert app.agent.pending_messages == ["first note", "second note"]
        await pilot.press("ctrl+x")
        assert app.agent.pending_messages == ["first note"]
        await pilot.press("up")
        assert app.agent.pending_messages == []
        assert app.composer.input.value == "first note"
        await pilot.press("backspace", "backspace", "backspace", "backspace")
        await type_text(pilot, "memo")
        await pilot.press("enter")
        assert app.agent.pending_messages == ["first memo"]
        await pilot.press("ctrl+s")  # resume: the memo goes out with the next step
        await wait_for(pilot, lambda: app.agent.state == "done")
        assert "you (steer) ▸ first memo" in app.transcript.plain


async def test_401_is_a_readable_notice_and_the_app_keeps_running(project: Path) -> None:
    async with running(project, [Turn(content="hi")], task="hello", server_key="sk-right") as (
        app,
        _server,
        pilot,
    ):
        await wait_for(pilot, lambda: app.agent.state == "error")
        await settle(pilot)
        text = app.transcript.plain
        assert "401 Invalid Authentication" in text
        assert "Check the key in $MOONSHOT_API_KEY" in text.replace("\n", " ")
        assert "Traceback" not in text
        assert "error" in state_label(app)
        assert app.is_running


async def test_tool_row_opens_the_full_call_and_tree_file_opens_a_preview(
    project: Path,
) -> None:
    turns = [Turn(tool_calls=(call("read_file", {"path": "app.py"}),)), Turn(content="Read.")]
    async with running(project, turns, task="read") as (app, _server, pilot):
        await wait_for(pilot, lambda: app.agent.state == "done")
        app.tools.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ToolDetailScreen))
        await settle(pilot)
        body = app.screen.query_one(TextView).plain
        assert '"path": "app.py"' in body and "return sum(xs)" in body
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ToolDetailScreen))
        assert app.agent.state == "done"  # escape closed the view, nothing else
        app.project_tree.focus()
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, FilePreviewScreen))
        await pilot.press("escape")


async def test_follow_up_task_continues_the_same_conversation(project: Path) -> None:
    turns = [Turn(content="First answer."), Turn(content="Second answer.")]
    async with running(project, turns, task="first task") as (app, server, pilot):
        await wait_for(pilot, lambda: app.agent.state == "done" and not app.run_active)
        assert "Follow-up" in app.composer.input.placeholder
        await type_text(pilot, "second task")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Second answer." in app.transcript.plain)
    contents = [m.get("content") for m in server.requests[1]["messages"]]
    assert contents[1:] == ["first task", "First answer.", "second task"]


async def test_files_changed_outside_show_but_our_edits_do_not(
    project: Path,
) -> None:
    turns = [
        Turn(tool_calls=(call("write_file", {"path": "util.py", "content": "X = 1\n"}),)),
        Turn(content="Wrote util.py."),
    ]
    async with running(project, turns, task="add util", watch=True) as (app, _server, pilot):
        await wait_for(pilot, lambda: app.agent.state == "done")
        await wait_for(pilot, lambda: app.project_tree.marker("util.py") == "ours")
        await pilot.pause(0.6)  # the watcher has seen our write by now
        assert app.project_tree.marker("util.py") == "ours"
        await pilot.pause(0.3)
        script = "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text('new')"
        target = project / "notes.txt"
        subprocess.run([sys.executable, "-c", script, str(target)], check=True)

        def shown() -> bool:
            paths = {n.data.path for n in app.project_tree._walk(app.project_tree.root) if n.data}
            return target in paths and app.project_tree.marker("notes.txt") == "outside"

        # How soon is a benchmark's question (kimitui.bench); here only that it shows.
        await wait_for(pilot, shown, timeout=15)


async def test_streamed_text_reaches_the_pane_in_batches(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushes: list[float] = []
    real_extend = TextView.extend
    real_append = TextView.append

    def counting_append(self: TextView, text: str) -> None:
        if self.id == "reasoning" and text:
            flushes.append(asyncio.get_running_loop().time())
        real_append(self, text)

    monkeypatch.setattr(TextView, "append", counting_append)
    monkeypatch.setattr(TextView, "extend", real_extend)
    turns = [Turn(reasoning=THOUGHT * 30, content="ok")]
    async with running(project, turns, tokens_per_second=600, task="go") as (app, _server, pilot):
        await wait_for(pilot, lambda: app.agent.state == "done")
        deltas = len(THOUGHT * 30) // 4
    span = flushes[-1] - flushes[0]
    assert len(flushes) <= span * 20 + 3  # at most ~20 Hz whatever the token rate
    assert len(flushes) < deltas / 4


async def test_letters_never_act_on_the_main_screen_they_are_text(project: Path) -> None:
    turns = [Turn(tool_calls=(call("list_files"),)), Turn(content="ok")]
    async with running(project, turns, task="list") as (app, _server, pilot):
        app.agent.pause()
        await wait_for(pilot, lambda: app.agent.state == "paused")
        await type_text(pilot, "p+u? please")  # a message may start with any letter
        assert app.composer.input.value == "p+u? please"
        assert app.agent.paused and not isinstance(app.screen, HelpScreen)
        app.composer.input.value = ""
        await pilot.press("tab")  # leave the composer: letters still do not act
        assert not app.composer.input.has_focus
        await type_text(pilot, "p?")
        assert app.agent.paused and not isinstance(app.screen, HelpScreen)
        assert app.composer.input.value == "p?" and app.composer.input.has_focus
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.agent.state == "done")
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_f1_opens_help_from_the_composer_and_the_footer_follows_the_state(
    project: Path,
) -> None:
    async with running(project, [Turn(content="ok")]) as (app, _server, pilot):
        active = app.screen.active_bindings.values()
        footer = {b.binding.action for b in active if b.enabled and b.node is app}
        assert "help" in footer and "pause" not in footer and "undo" not in footer
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        assert len(app.screen.query(".help-group")) == len(KEY_GROUPS) == 5
        text = " ".join(key for _, keys in KEY_GROUPS for key, _ in keys)
        for key in ("ctrl+s", "ctrl+r", "ctrl+z", "ctrl+t", "ctrl+o", "space", "ctrl+w"):
            assert key in text
        await pilot.press("f1")
        assert not isinstance(app.screen, HelpScreen)


# -- keys, focus and the composer (issue 20) -------------------------------------------


def last_user_text(server: Any, request: int = 0) -> str:
    users = [m for m in server.requests[request]["messages"] if m["role"] == "user"]
    return users[-1]["content"]


async def test_the_composer_takes_lines_enter_sends_them(project: Path) -> None:
    async with running(project, [Turn(content="ok")]) as (app, server, pilot):
        await type_text(pilot, "first")
        await pilot.press("shift+enter")
        await type_text(pilot, "second")
        await pilot.press("ctrl+j")
        await type_text(pilot, "third")
        assert app.composer.input.value == "first\nsecond\nthird"
        assert app.composer.input.size.height == 3  # the box grows with its lines
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.agent.state == "done")
        assert app.composer.input.value == ""
    assert last_user_text(server) == "first\nsecond\nthird"


async def test_a_paste_of_300_lines_arrives_whole_folded_in_the_box(project: Path) -> None:
    pasted = "".join(f"    row {i}: {'x' * (i % 50)}\n" for i in range(300))
    async with running(project, [Turn(content="ok")]) as (app, server, pilot):
        await type_text(pilot, "look at this:")
        await pilot.press("shift+enter")
        app.post_message(events.Paste(pasted))  # what a terminal's bracketed paste becomes
        await pilot.pause(0.1)
        await type_text(pilot, "thanks")
        assert app.composer.input.value == "look at this:\n[pasted 300 lines]thanks"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.agent.state == "done")
    assert last_user_text(server) == "look at this:\n" + pasted + "thanks"


async def test_a_short_multi_line_paste_is_shown_as_is(project: Path) -> None:
    async with running(project, [Turn(content="ok")]) as (app, server, pilot):
        app.post_message(events.Paste("one\r\ntwo\r\nthree"))
        await pilot.pause(0.1)
        assert app.composer.input.value == "one\ntwo\nthree"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.agent.state == "done")
    assert last_user_text(server) == "one\ntwo\nthree"


async def test_closing_tool_details_gives_the_keys_back_to_the_composer(project: Path) -> None:
    turns = [
        Turn(tool_calls=(call("write_file", {"path": "util.py", "content": "X = 1\n"}),)),
        Turn(content="Wrote it."),
    ]
    async with running(project, turns, task="add util") as (app, _server, pilot):
        await wait_for(pilot, lambda: app.agent.state == "done" and not app.run_active)
        assert app.journal.last is not None  # an edit that u would once have undone
        app.tools.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ToolDetailScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.composer.input.has_focus)
        await type_text(pilot, "run it? u")
        assert app.composer.input.value == "run it? u"
        assert (project / "util.py").read_text() == "X = 1\n"
        assert not isinstance(app.screen, HelpScreen)


async def test_letters_typed_on_any_pane_land_in_the_composer(project: Path) -> None:
    turns = [Turn(tool_calls=(call("write_file", {"path": "u.py", "content": "U = 1\n"}),))]
    async with running(project, [*turns, Turn(content="ok")], task="go") as (app, _s, pilot):
        await wait_for(pilot, lambda: app.agent.state == "done" and not app.run_active)
        for pane in (app.project_tree, app.reasoning, app.tools, app.transcript):
            app.composer.input.value = ""
            pane.focus()
            await pilot.pause()
            await type_text(pilot, "u+p?")
            assert app.composer.input.has_focus, pane
            assert app.composer.input.value == "u+p?", pane
        assert (project / "u.py").exists() and not isinstance(app.screen, HelpScreen)


async def test_ctrl_l_and_esc_jump_to_the_composer(project: Path) -> None:
    async with running(project, [Turn(content="ok")], task="hi") as (app, _server, pilot):
        await wait_for(pilot, lambda: app.agent.state == "done" and not app.run_active)
        app.project_tree.focus()
        await pilot.pause()
        await pilot.press("ctrl+l")
        assert app.composer.input.has_focus
        app.transcript.focus()
        await pilot.pause()
        await pilot.press("escape")  # nothing to interrupt: Esc goes to the composer
        assert app.composer.input.has_focus


def focus_look(widget: Any) -> tuple[object, ...]:
    styles = widget.styles
    return (styles.border_top, styles.outline_left, styles.border_title_color)


async def test_every_tab_stop_shows_a_focus_ring(project: Path) -> None:
    async with running(project, [Turn(content="ok")], task="hi") as (app, _server, pilot):
        await wait_for(pilot, lambda: app.agent.state == "done" and not app.run_active)
        panes = [app.project_tree, app.reasoning, app.tools, app.transcript]
        app.composer.input.focus()
        await pilot.pause()
        idle = {id(p): focus_look(p) for p in panes}
        composer_focused = app.composer.styles.border_top
        seen = []
        for _ in range(len(panes) + 1):
            await pilot.press("tab")
            await pilot.pause()
            focused = app.focused
            seen.append(focused)
            if focused in panes:
                assert focus_look(focused) != idle[id(focused)], focused
                assert focused.styles.outline_left[0] != "", focused
        assert set(map(id, panes)) <= set(map(id, seen))  # every pane is a Tab stop
        assert app.composer.input.has_focus  # and round again to the composer
        app.transcript.focus()
        await pilot.pause()
        assert app.composer.styles.border_top != composer_focused  # it shows it lost focus


async def test_the_palette_says_ui_theme_literally(project: Path) -> None:
    async with running(project, [Turn(content="ok")]) as (app, _server, pilot):
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await type_text(pilot, "switch theme")
        commands = app.screen.query_one(CommandList)
        await wait_for(pilot, lambda: commands.option_count > 0)
        texts = [str(commands.get_option_at_index(i).prompt) for i in range(commands.option_count)]
        assert any("saved as [ui] theme in config.toml" in t for t in texts), texts


async def test_quit_leaves_the_resume_command_to_the_launchers_summary(
    project: Path, tmp_path: Path
) -> None:
    # The launcher prints it with the quit summary (tests/test_quit_summary.py): not twice.
    async with served_app(project, [Turn(content="ok")]) as (app, _server):
        transcript = tmp_path / "session.jsonl"
        transcript.write_text(json.dumps({"kind": "header", "demo": True}) + "\n")
        app.transcript_path = transcript
        session = app.agent.client.session_id
        async with app.run_test(size=SIZE) as pilot:
            assert app.resume_command() == f"kimitui --resume {session} --demo"
            exits: list[object] = []
            real_exit = app.exit

            def spy(*args: Any, **kwargs: Any) -> None:
                exits.append(kwargs.get("message"))
                real_exit(*args, **kwargs)

            app.exit = spy  # type: ignore[method-assign]
            await pilot.press("ctrl+q")
            await wait_for(pilot, lambda: bool(exits))
    assert exits == [None]


def test_readme_keys_table_matches_the_app_bindings() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Keys\n", 1)[1].split("\n## ", 1)[0]
    main, review = section.split("**Review gate**", 1)
    review = review.split("**Session picker**", 1)[0]
    names = {"escape": "Esc", "f1": "F1", "f2": "F2", "up": "↑"}
    for binding in KimiApp.BINDINGS:
        assert f"| {names.get(binding.key, binding.key)}" in main, binding.key
    for binding in ReviewScreen.BINDINGS:
        if binding.key not in ("escape",):
            assert f"| {binding.key} |" in review, binding.key
    assert "| ctrl+g |" in review and "| Esc |" in review
    # No single letter acts on the main screen, and the table says none does.
    assert not any(len(b.key) == 1 for b in KimiApp.BINDINGS)
    for gone in ("(or `p`)", "(or `u`)", "(or `+`)", "(or `?`)"):
        assert gone not in main
    help_keys = {key for title, keys in KEY_GROUPS for key, _ in keys if title == "Main screen"}
    for key in ("ctrl+g", "ctrl+l", "ctrl+z", "shift+Enter / ctrl+j"):
        assert key in help_keys


async def test_a_paste_while_a_pane_has_the_focus_goes_to_the_composer(project: Path) -> None:
    async with running(project, [Turn(content="ok")]) as (app, _server, pilot):
        app.project_tree.focus()
        await pilot.pause()
        app.post_message(events.Paste("fix this\nand that"))
        await wait_for(pilot, lambda: app.composer.input.value == "fix this\nand that")
        await wait_for(pilot, lambda: app.composer.input.has_focus)


async def test_a_long_pending_message_takes_one_line_above_the_composer(project: Path) -> None:
    turns = [Turn(tool_calls=(call("list_files"),)), Turn(content="ok")]
    async with running(project, turns, task="list") as (app, _server, pilot):
        app.agent.pause()
        await wait_for(pilot, lambda: app.agent.state == "paused")
        app.post_message(events.Paste("".join(f"row {i}\n" for i in range(300))))
        await pilot.pause(0.1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(app.agent.pending_messages))
        await pilot.pause(0.1)
        label = app.query_one("#pending")
        assert "“row 0 (+299 more lines)”" in str(label.render())
        assert label.size.height == 1 and app.composer.input.size.height == 1
