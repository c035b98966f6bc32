"""Terminal safety in the TUI: a hostile repository, model or session cannot reach the terminal.

What reaches the terminal is checked where Textual hands it over: the
segments of a full repaint of the screen (what the driver writes), and once in
a real pseudo-terminal. Escapes must show as text (``\\x1b``), markup must show
as written (``[/]``), and nothing crashes, also when the session is resumed.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile import (
    CLEAR,
    OSC52,
    OSC_TITLE,
    SEQUENCES,
    assert_clean_segments,
    hostile_text,
    raw_in,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.segment import Segment
from rich.style import Style
from textual.app import App, ComposeResult
from textual.color import Color
from tui_helpers import call, make_project, running, settle, wait_for

from kimitui.bench.harness import kimitui_argv
from kimitui.bench.ptyapp import PtyApp, app_env
from kimitui.config import Settings
from kimitui.core.catalog import SessionSummary
from kimitui.core.gate import AskGate, AutoGate
from kimitui.core.safetext import safe_line
from kimitui.core.session import resume_session, start_session
from kimitui.core.transcript import load_transcript
from kimitui.demo.script import Turn
from kimitui.demo.server import ScriptedServer
from kimitui.tui.app import KimiApp
from kimitui.tui.history import earlier_events
from kimitui.tui.messages import ToolRowChosen
from kimitui.tui.picker import SessionPicker
from kimitui.tui.preview import FilePreviewScreen
from kimitui.tui.review import ReviewScreen
from kimitui.tui.safety import ControlFilter
from kimitui.tui.textview import Block, TextView
from kimitui.tui.toolpane import ToolDetailScreen, ToolPane, ToolRecord
from kimitui.tui.tree import ProjectTree
from kimitui.wiring import Endpoint, build_agent

LINK = "[link=https://evil.example]click[/link]"
EVIL_FILE = f"title {OSC_TITLE}\nclear {CLEAR}\nbell \x07 csi \x9b2J\n"


# -- what the terminal would receive ------------------------------------------------------


def full_repaint(app: App[Any]) -> Any:
    """What the driver would write to repaint the current screen in full (a LayoutUpdate).

    Textual offers no public hook for this; the compositor is what ``App._display`` uses.
    """
    return app.screen._compositor.render_full_update()


def screen_segments(app: App[Any]) -> Iterator[Segment]:
    for line in full_repaint(app).strips:
        for strip in line:
            yield from strip


def screen_text(app: App[Any]) -> str:
    lines = full_repaint(app).strips
    return "\n".join("".join(s.text for strip in line for s in strip) for line in lines)


def terminal_output(app: App[Any]) -> str:
    """The escape sequences and text the driver would write, as one string."""
    return full_repaint(app).render_segments(app.console)


def assert_terminal_safe(app: App[Any]) -> None:
    assert_clean_segments(screen_segments(app))
    out = terminal_output(app)
    for sequence in ("\x1b]", "\x07", "\x1b[2J", "\x9b", "\x1bP"):
        assert sequence not in out, f"{sequence!r} reached the terminal"
    # The widgets showed every control themselves: the backstop filter had nothing to do.
    assert "␛" not in screen_text(app)


def hostile_repo(tmp_path: Path) -> Path:
    project = make_project(tmp_path)
    (project / OSC52).write_text("x = 1\n")
    (project / OSC_TITLE).write_text("y = 2\n")
    (project / "[b]bold.py").write_text("z = 3\n")
    (project / "[").mkdir()
    (project / "[" / "]oops.py").write_text("w = 4\n")
    (project / "evil.txt").write_text(EVIL_FILE)
    return project


# -- a hostile repository, a hostile model --------------------------------------------------


async def test_opening_a_hostile_repository_sends_none_of_its_escapes(tmp_path: Path) -> None:
    project = hostile_repo(tmp_path)
    async with running(project, [Turn(content="unused")]) as (app, server, pilot):
        tree = app.project_tree
        await wait_for(pilot, lambda: len(tree.root.children) >= 7)
        await settle(pilot)
        labels = {str(node.label) for node in tree.root.children}
        assert {safe_line(OSC52), safe_line(OSC_TITLE), "[b]bold.py", "["} <= labels
        shown = screen_text(app)
        assert "a\\x1b]52;c;dHJlZQ==\\x1b" in shown  # shown, escaped (the pane cuts it)
        assert "b\\x1b]0;pwned\\x07.py" in shown
        assert "[b]bold.py" in shown  # markup in a name is text
        assert_terminal_safe(app)
        assert server.served == 0  # all this before any request
        app.push_screen(FilePreviewScreen(project / "evil.txt", "evil.txt"))
        await wait_for(pilot, lambda: isinstance(app.screen, FilePreviewScreen))
        await settle(pilot)
        shown = screen_text(app)
        assert "title b\\x1b]0;pwned\\x07.py" in shown and "clear \\x1b[2J\\x1b[H" in shown
        assert_terminal_safe(app)


async def test_model_text_and_tool_output_are_shown_not_obeyed(tmp_path: Path) -> None:
    project = hostile_repo(tmp_path)
    turns = [
        Turn(
            reasoning=f"thinking {CLEAR} {OSC_TITLE}\tand\rmore",
            tool_calls=(
                call("read_file", {"path": "evil.txt"}),
                call("read_file", {"path": OSC52}),
            ),
        ),
        Turn(reasoning=f"done {CLEAR}", content=f"answer {CLEAR} {LINK} [/] \u202eevil"),
    ]
    async with running(project, turns, task=f"look {CLEAR}") as (app, _server, pilot):
        await wait_for(pilot, lambda: app.agent.state == "done")
        await settle(pilot)
        transcript = app.transcript.plain
        assert f"answer \\x1b[2J\\x1b[H {LINK} [/] \\u202eevil" in transcript
        assert "you ▸ look \\x1b[2J\\x1b[H" in transcript
        assert "done \\x1b[2J\\x1b[H" in app.reasoning.plain
        assert [r.status for r in app.tools.records.values()] == ["ok", "ok"]
        assert_terminal_safe(app)
        app.transcript.set_all_collapsed(False)  # the first step's reasoning, spelled out
        await settle(pilot)
        assert "thinking \\x1b[2J\\x1b[H b\\x1b]0;pwned\\x07.py    and\\rmore" in (
            app.transcript.plain
        )
        assert_terminal_safe(app)
        first = next(iter(app.tools.records))
        app.post_message(ToolRowChosen(first))
        await wait_for(pilot, lambda: isinstance(app.screen, ToolDetailScreen))
        await settle(pilot)
        body = app.screen.query_one(TextView).plain
        assert "clear \\x1b[2J\\x1b[H" in body and "bell \\x07 csi \\x9b2J" in body
        assert_terminal_safe(app)


async def test_the_review_of_a_hostile_edit_shows_its_escapes(tmp_path: Path) -> None:
    project = hostile_repo(tmp_path)
    content = f"x = 1  # {CLEAR} {OSC_TITLE}\ny = '\u202e' \x9b [/] {LINK}\n"
    edit = call("write_file", {"path": OSC52, "content": content})
    turns = [Turn(tool_calls=(edit,)), Turn(content="ok")]
    async with running(project, turns, task="edit", gate=AskGate()) as (app, _server, pilot):
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await wait_for(pilot, lambda: app.screen.review is not None)
        await settle(pilot)
        screen = app.screen
        title = str(screen.query_one("#review-title").render())
        assert "review · a\\x1b]52;c;dHJlZQ==\\x1b\\.py · modified" in title
        shown = screen_text(app)
        assert "# \\x1b[2J\\x1b[H b\\x1b]0;pwned\\x07.py" in shown  # the diff line
        assert f"\\u202e' \\x9b [/] {LINK}" in shown
        assert_terminal_safe(app)
        await wait_for(pilot, lambda: screen.takes_keys)  # keys count once the hold ends
        await pilot.press("y")
        await wait_for(pilot, lambda: app.agent.state == "done")
    assert (project / OSC52).read_text() == content  # what is shown escaped is written as is


# -- markup: never parsed, not even from a saved session ----------------------------------------


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "state"
    monkeypatch.setenv("KIMITUI_STATE_DIR", str(folder))
    return folder


def agent_on(project: Path, base_url: str, session_id: str | None = None, **settings: Any) -> Any:
    endpoint = Endpoint(base_url, "sk-test")
    return build_agent(Settings(**settings), project, endpoint, AutoGate(), session_id=session_id)


MARKUP_CALLS = (
    call("read_file", {"path": "[/]oops"}),
    call("read_file", {"path": LINK}),
    call("[bold]read_file[/]", {"path": "[@click=app.quit]x[/]"}),
    call("search", {"pattern": "[/]"}),
)


def assert_markup_shown(app: KimiApp) -> None:
    shown = screen_text(app)
    for text in ("[/]oops", "[link=https://evil.", "[bold]read_fil", "[/]"):
        assert text in shown, text
    assert_terminal_safe(app)


async def test_markup_in_tool_calls_is_text_and_the_session_resumes(
    tmp_path: Path, state: Path
) -> None:
    project = hostile_repo(tmp_path)
    turns = [
        Turn(reasoning="[/] [b]", tool_calls=MARKUP_CALLS),
        Turn(content=f"[/]done {LINK}"),
        Turn(content="after the resume [/]"),
    ]
    async with ScriptedServer(turns) as server:
        first = agent_on(project, server.base_url)
        recorder = start_session(first, task="[/] read [link=x]y[/link]")
        app = KimiApp(first, watch=False, task="[/] read [link=x]y[/link]")
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_for(pilot, lambda: first.state == "done")
            await settle(pilot)
            assert app.is_running and app.return_code is None  # no MarkupError
            keys = [r.key_argument for r in app.tools.records.values()]
            assert keys == ["[/]oops", LINK, "[@click=app.quit]x[/]", "[/]"]
            assert f"[/]done {LINK}" in app.transcript.plain
            assert_markup_shown(app)
            app.post_message(ToolRowChosen(next(iter(app.tools.records))))
            await wait_for(pilot, lambda: isinstance(app.screen, ToolDetailScreen))
            await settle(pilot)
            assert_terminal_safe(app)
        assert app.return_code in (None, 0)
        await first.client.close()
        recorder.close()

        # --resume reads the same calls back from the transcript into the panes.
        transcript = load_transcript(recorder.path)
        second = agent_on(project, server.base_url, session_id=recorder.id)
        resumed = resume_session(second, transcript)
        history = earlier_events(transcript.events())
        again = KimiApp(second, watch=False, history=history)
        async with again.run_test(size=(160, 40)) as pilot:
            await settle(pilot)
            assert again.is_running
            assert [r.key_argument for r in again.tools.records.values()] == keys
            assert_markup_shown(again)
            await pilot.press(*"go on")
            await pilot.press("enter")
            await wait_for(pilot, lambda: "after the resume [/]" in again.transcript.plain)
            assert_terminal_safe(again)
        resumed.close()
        await second.client.close()
    assert again.return_code in (None, 0)


async def test_the_session_picker_shows_a_saved_task_and_path_as_text() -> None:
    hostile = SessionSummary(
        id="20261120-0000-abcdef01",
        project=f"/home/dev/[/]{OSC_TITLE}",
        started="2026-11-20T09:30:00+00:00",
        steps=3,
        tokens=100,
        cost=None,
        task=f"[/]oops {LINK} {CLEAR}",
        ended="finished",
    )
    app = SessionPicker([hostile], f"/home/dev/[/]{OSC_TITLE}")
    async with app.run_test(size=(160, 20)) as pilot:
        await pilot.pause()
        shown = screen_text(app)
        assert "for /home/dev/[/]b\\x1b]0;pwned\\x07.py, newest first" in shown
        assert "[/]oops [link=https://evil.example]click[/link] \\x1b[2J" in shown
        assert_terminal_safe(app)
        await pilot.press("enter")
    assert app.return_value == hostile.id


# -- the backstop filter ----------------------------------------------------------------------


def test_the_filter_turns_raw_controls_into_pictures_and_keeps_the_width() -> None:
    line = [Segment("ab\x1b[2Jc", Style(bold=True)), Segment("\udcff\u202e\x07 ", None)]
    out = ControlFilter().apply(line, Color(0, 0, 0))
    # 8 cells (controls take none); their pictures take one each, so the line is cut to 8.
    assert "".join(s.text for s in out) == "ab␛[2Jc\ufffd"
    assert_clean_segments(out)
    plain_line = [Segment("nothing to do", None)]
    assert ControlFilter().apply(plain_line, Color(0, 0, 0)) is plain_line


def test_the_app_installs_the_filter(tmp_path: Path) -> None:
    agent = agent_on(make_project(tmp_path), "http://127.0.0.1:9/v1")
    filters = KimiApp(agent, watch=False).get_line_filters()
    assert any(isinstance(f, ControlFilter) for f in filters)


# -- property tests: random names and text through the real widgets -----------------------------


class WidgetHost(App[None]):
    """The tree, the tool pane and a text view, without KimiApp's backstop filter:
    what these show is safe by the widgets' own doing."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def compose(self) -> ComposeResult:
        yield ProjectTree(self.root, id="tree")
        yield ToolPane(id="tools")
        yield TextView(id="view")


def file_names() -> st.SearchStrategy[bytes]:
    encoded = st.one_of(hostile_text, st.sampled_from(SEQUENCES)).map(
        lambda t: t.encode("utf-8", "surrogatepass")
    )
    name = st.one_of(st.binary(min_size=1, max_size=40), encoded)
    # Any bytes but "/" and NUL make a file name on Linux; the "f" keeps them visible
    # (not a dot file, never "." or "..").
    return name.map(lambda b: b"f" + b.replace(b"/", b"").replace(b"\x00", b"")[:200])


async def _tree_shows(root: Path, names: set[bytes]) -> None:
    app = WidgetHost(root)
    async with app.run_test(size=(100, 40)) as pilot:
        tree = app.query_one(ProjectTree)
        await wait_for(pilot, lambda: len(tree.root.children) == len(names), timeout=10)
        await pilot.pause()
        labels = sorted(str(node.label) for node in tree.root.children)
        assert labels == sorted(safe_line(os.fsdecode(n)) for n in names)
        for y in range(tree.size.height):
            assert_clean_segments(tree.render_line(y))
        assert_clean_segments(screen_segments(app))


@pytest.mark.skipif(sys.platform != "linux", reason="file names of arbitrary bytes: Linux")
@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sets(file_names(), min_size=1, max_size=8))
def test_any_file_name_shows_in_the_tree_escaped(tmp_path: Path, names: set[bytes]) -> None:
    root = tmp_path / f"p{time.monotonic_ns()}"
    root.mkdir()
    for name in names:
        with open(os.path.join(os.fsencode(root), name), "wb") as f:
            f.write(b"x\n")
    asyncio.run(_tree_shows(root, names))


records = st.builds(
    ToolRecord,
    id=st.uuids().map(str),
    step=st.integers(1, 99),
    name=hostile_text,
    arguments=st.one_of(
        hostile_text,
        st.dictionaries(st.sampled_from(["path", "pattern", "x"]), hostile_text, max_size=3),
        st.lists(hostile_text, max_size=3),
    ),
    status=st.sampled_from(["running", "review", "ok", "error"]),
    output=hostile_text,
    duration=st.none() | st.floats(0, 100),
)


async def _panes_show(root: Path, calls: list[ToolRecord], text: list[str]) -> None:
    app = WidgetHost(root)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(ToolPane)
        for record in calls:
            pane.upsert(record)
        view = app.query_one(TextView)
        block = view.add(Block(text[0], prefix=text[-1], summary=text[-1]))
        for fragment in text[1:]:
            view.extend(block, fragment)  # streamed
        view.add(Block(text[-1], summary=text[0], collapsed=True))
        await pilot.pause()
        assert not raw_in(view.plain.replace("\n", ""))
        assert_clean_segments(screen_segments(app))
        app.push_screen(ToolDetailScreen(calls[0]))
        await pilot.pause()
        await pilot.pause()
        assert_clean_segments(screen_segments(app))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(records, min_size=1, max_size=5), st.lists(hostile_text, min_size=1, max_size=6))
def test_any_tool_call_and_any_text_shows_escaped(
    tmp_path: Path, calls: list[ToolRecord], text: list[str]
) -> None:
    asyncio.run(_panes_show(tmp_path, calls, text))


# -- in a real terminal ---------------------------------------------------------------------------


class RecordedPty(PtyApp):
    """A PtyApp that keeps every byte the app wrote to its terminal."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.everything = bytearray()
        super().__init__(*args, **kwargs)

    def _feed(self, data: bytes, now: float) -> None:
        self.everything += data
        super()._feed(data, now)


@pytest.mark.skipif(sys.platform != "linux", reason="a pseudo-terminal and file names of bytes")
async def test_in_a_real_terminal_no_hostile_sequence_is_written(tmp_path: Path) -> None:
    project = hostile_repo(tmp_path)
    turns = [
        Turn(
            reasoning=f"reading {CLEAR}",
            tool_calls=(call("read_file", {"path": "evil.txt"}), call("read_file", {"path": LINK})),
        ),
        Turn(content=f"all done {CLEAR} {OSC_TITLE}"),
    ]
    env = app_env({"MOONSHOT_API_KEY": "sk-test", "KIMITUI_STATE_DIR": str(tmp_path / "state")})
    async with ScriptedServer(turns) as server:
        argv = [*kimitui_argv(), str(project), "--base-url", server.base_url, "--task", "look"]
        app = RecordedPty(argv, env)
        try:
            finished = app.watch("finished: type a follow-up")
            for _ in range(600):
                if finished.seen.is_set() or not app.alive():
                    break
                await asyncio.sleep(0.05)
            assert finished.seen.is_set(), app.recent_text()
        finally:
            await asyncio.to_thread(app.close)
    out = bytes(app.everything)
    for sequence in (b"\x1b]52;c;dHJlZQ==", b"\x1b]0;", b"\x1b[2J", b"\x1b]8;", b"\xc2\x9b"):
        assert sequence not in out, f"{sequence!r} reached the terminal"
    assert b"a\\x1b]52;c;dHJlZQ==" in out  # the file name, shown escaped in the tree
    assert b"all done \\x1b[2J\\x1b[H" in out
