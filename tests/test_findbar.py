"""Find in the transcript: the FindBar over a TextView, under Pilot, and its snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.style import Style
from test_tui_snapshots import emit, finished_step_one, offline_app, ready
from textual.app import App, ComposeResult
from textual.widgets import Button, Static
from tui_helpers import call, make_project, running, type_text, wait_for

from kimitui.core import events as ev
from kimitui.core.gate import AskGate
from kimitui.demo.script import Turn
from kimitui.tui.findbar import FindBar, count_label, find_matches, smart_pattern
from kimitui.tui.review import ReviewScreen
from kimitui.tui.textview import Block, TextView

TCSS = Path(__file__).resolve().parents[1] / "kimitui" / "tui" / "findbar.tcss"


class FindApp(App[None]):
    """A transcript, a button that had the focus, and the find bar (ctrl+f opens it)."""

    CSS_PATH: ClassVar = [TCSS]
    CSS = "TextView { height: 1fr; } Button { height: 3; }"
    BINDINGS: ClassVar = [("ctrl+f", "find", "find")]

    def __init__(self, blocks: list[Block]) -> None:
        super().__init__()
        self.initial = blocks

    def compose(self) -> ComposeResult:
        yield Button("elsewhere", id="elsewhere")
        yield TextView(id="transcript")
        yield FindBar(id="findbar")

    def on_mount(self) -> None:
        view = self.query_one(TextView)
        for block in self.initial:
            view.add(block)
        self.query_one(Button).focus()

    def action_find(self) -> None:
        self.query_one(FindBar).open(self.query_one(TextView), self.focused)


def answer(text: str) -> Block:
    return Block(text, prefix="kimi ▸ ", prefix_style=Style(bold=True))


def story() -> list[Block]:
    return [
        Block("Split app.py into models and pricing.", prefix="you ▸ "),
        answer("I read app.py first. Then models.py gets the dataclasses."),
        Block(
            "the step's thinking: App.py mixes jobs",
            summary="step 1 · thought 38 chars",
            collapsed=True,
        ),
        answer("Done: app.py re-exports total() from pricing.py."),
    ]


def test_smart_case_and_labels_left_out() -> None:
    blocks = story()
    lower = find_matches(blocks, "app.py")
    upper = find_matches(blocks, "App.py")
    assert len(lower) == 4  # three "app.py" and the thinking's "App.py"
    assert [m[0] for m in upper] == [2]
    assert find_matches(blocks, "kimi") == []  # "kimi ▸" is a label, not text
    index, start, end = lower[1]
    assert blocks[index].full()[start:end] == "app.py"
    assert smart_pattern("") is None
    assert count_label(None, 0, False) == "no matches"
    assert count_label(2, 17, False) == "3/17"
    assert count_label(0, 5000, True) == "1/5000+"


async def test_typing_finds_moves_and_counts() -> None:
    app = FindApp(story())
    async with app.run_test(size=(100, 20)) as pilot:
        await pilot.press("ctrl+f")
        bar = app.query_one(FindBar)
        view = app.query_one(TextView)
        assert bar.is_open and bar.input.has_focus
        await type_text(pilot, "app.py")
        count = app.query_one("#find-count", Static)
        assert str(count.render()) == "1/4"
        assert sum(len(v) for v in view.marks.values()) == 4
        first = view.current_mark
        await pilot.press("enter")
        assert str(count.render()) == "2/4"
        assert view.current_mark != first
        await pilot.press("down", "down")
        assert str(count.render()) == "4/4"
        await pilot.press("down")  # round to the first
        assert str(count.render()) == "1/4"
        await pilot.press("up")
        assert str(count.render()) == "4/4"
        await pilot.press("shift+f3")
        assert str(count.render()) == "3/4"
        assert view.chosen == view.current_mark[0]  # a copy now takes the found message


async def test_a_match_in_a_collapsed_step_opens_it() -> None:
    app = FindApp(story())
    async with app.run_test(size=(100, 20)) as pilot:
        view = app.query_one(TextView)
        assert view.blocks[2].collapsed
        await pilot.press("ctrl+f")
        await type_text(pilot, "App.py")  # capital: only the thinking matches
        assert view.current_mark is not None and view.current_mark[0] == 2
        assert not view.blocks[2].collapsed
        assert "App.py mixes jobs" in view.plain


async def test_the_current_match_is_scrolled_into_view() -> None:
    blocks = [answer(f"line {n} of filler text") for n in range(200)]
    blocks.insert(150, answer("the needle is here"))
    app = FindApp(blocks)
    async with app.run_test(size=(80, 20)) as pilot:
        view = app.query_one(TextView)
        view.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        await pilot.press("ctrl+f")
        await type_text(pilot, "needle")
        await pilot.pause()
        y = view.line_top(150)
        top = view.scroll_offset.y
        assert top <= y < top + view.scrollable_content_region.height
        await type_text(pilot, "x")  # no match now
        assert str(app.query_one("#find-count", Static).render()) == "no matches"
        assert bar_has_class(app, "-none")


def bar_has_class(app: FindApp, name: str) -> bool:
    return app.query_one(FindBar).has_class(name)


async def test_esc_closes_clears_marks_and_gives_the_focus_back() -> None:
    app = FindApp(story())
    async with app.run_test(size=(100, 20)) as pilot:
        button = app.query_one(Button)
        await pilot.press("ctrl+f")
        await type_text(pilot, "app")
        view = app.query_one(TextView)
        assert view.marks
        await pilot.press("escape")
        bar = app.query_one(FindBar)
        assert not bar.is_open
        assert not view.marks and view.current_mark is None
        assert button.has_focus


async def test_text_that_streams_in_is_found_while_open() -> None:
    app = FindApp(story())
    async with app.run_test(size=(100, 20)) as pilot:
        view = app.query_one(TextView)
        await pilot.press("ctrl+f")
        await type_text(pilot, "pricing")
        count = app.query_one("#find-count", Static)
        assert str(count.render()) == "1/2"
        view.append(" And pricing.py is tested.")
        await wait_for(pilot, lambda: str(count.render()) == "1/3")


async def test_streamed_text_does_not_pull_the_view_back_to_the_match() -> None:
    blocks = [answer("the needle up top")] + [answer(f"filler {n}") for n in range(100)]
    app = FindApp(blocks)
    async with app.run_test(size=(80, 20)) as pilot:
        view = app.query_one(TextView)
        await pilot.press("ctrl+f")
        await type_text(pilot, "needle")
        assert view.scroll_offset.y == 0  # the match is at the top
        view.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        bottom = view.scroll_offset.y
        assert bottom > 0
        view.add(answer("another needle"))
        count = app.query_one("#find-count", Static)
        await wait_for(pilot, lambda: str(count.render()) == "1/2")
        assert view.scroll_offset.y >= bottom  # still where the reader was


async def test_hostile_query_and_text_stay_plain() -> None:
    hostile = "[bold red]boom[/] \x1b]52;c;SGVsbG8=\x07 [link=http://x]y[/link]"
    app = FindApp([answer(hostile)])
    async with app.run_test(size=(100, 20)) as pilot:
        view = app.query_one(TextView)
        bar = app.query_one(FindBar)
        await pilot.press("ctrl+f")
        bar.input.value = "[/"
        await pilot.pause()
        assert str(app.query_one("#find-count", Static).render()) == "1/2"  # [/] and [/link]
        index, start, end = view.current_mark
        assert view.blocks[index].full()[start:end] == "[/"
        bar.input.value = "\x1b]52"  # a raw ESC finds the escape the view shows
        await pilot.pause()
        assert str(app.query_one("#find-count", Static).render()) == "1/1"
        index, start, end = view.current_mark
        assert view.blocks[index].full()[start:end] == "\\x1b]52"
        assert "[bold red]boom[/]" in view.plain  # shown, not obeyed


def test_the_find_bar_looks_right(snap_compare: Any) -> None:
    async def find(pilot: Any) -> None:
        pilot.app.query_one(FindBar).input.cursor_blink = False
        await pilot.press("ctrl+f")
        await type_text(pilot, "app.py")
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(FindApp(story()), run_before=find, terminal_size=(90, 16))


async def test_ctrl_f_in_kimitui_finds_in_the_transcript_and_esc_returns_to_the_composer(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path)
    turns = [
        Turn(reasoning="Pricing first.", content="Moved total() to pricing.py; app.py keeps it.")
    ]
    async with running(project, turns, task="split app.py") as (app, _server, pilot):
        await wait_for(pilot, lambda: not app.run_active and "finished" in app.transcript.plain)
        assert app.composer.input.has_focus
        await pilot.press("ctrl+f")
        bar = app.query_one(FindBar)
        assert bar.is_open and bar.input.has_focus and bar.view is app.transcript
        await type_text(pilot, "app.py")
        assert bar.matches and bar.current == 0
        assert len(bar.matches) == 2  # the task and the answer; labels are not searched
        letters = app.composer.input.text
        await pilot.press("enter")
        assert bar.current == 1
        assert app.composer.input.text == letters  # Enter moved on; nothing was sent
        await pilot.press("escape")
        assert not bar.is_open and app.composer.input.has_focus
        assert app.run_active is False and not app.transcript.marks


async def test_ctrl_f_on_the_thinking_pane_searches_it(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    turns = [Turn(reasoning="Pricing first, then Models.", content="done")]
    async with running(project, turns, task="go") as (app, _server, pilot):
        await wait_for(pilot, lambda: not app.run_active and "done" in app.transcript.plain)
        await pilot.pause()
        app.reasoning.focus()
        await wait_for(pilot, lambda: app.reasoning.has_focus)  # focus moves on a refresh
        await pilot.press("ctrl+f")
        bar = app.query_one(FindBar)
        assert bar.view is app.reasoning
        await type_text(pilot, "models")
        assert len(bar.matches) == 1
        await pilot.press("escape")
        assert app.reasoning.has_focus


def test_the_find_bar_in_kimitui_looks_right(tmp_path: Path, snap_compare: Any) -> None:
    async def find(pilot: Any) -> None:
        app = await ready(pilot)
        finished_step_one(app)
        emit(app, ev.Content("app.py keeps total(); pricing moves out of app.py."))
        emit(app, ev.StateChanged("idle"))
        await pilot.pause(0.15)
        app.query_one(FindBar).input.cursor_blink = False
        await pilot.press("ctrl+f")
        await type_text(pilot, "app.py")
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(offline_app(tmp_path), run_before=find, terminal_size=(100, 30))


async def test_a_review_never_opens_over_the_find_bar_while_it_is_in_use(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    write = call("write_file", {"path": "found.py", "content": "F = 1\n"})
    thought = "I am weighing where each function should live before I write. " * 12
    turns = [Turn(reasoning=thought, tool_calls=(write,)), Turn(content="ok")]
    gate = AskGate()
    async with running(project, turns, task="go", gate=gate, tokens_per_second=150) as (
        app,
        _server,
        pilot,
    ):
        await wait_for(pilot, lambda: app.agent.state == "thinking")
        await pilot.press("ctrl+f")
        bar = app.query_one(FindBar)
        await type_text(pilot, "weigh")
        await wait_for(pilot, lambda: gate.current is not None)  # the edit is proposed
        await pilot.pause(0.4)
        assert not isinstance(app.screen, ReviewScreen)  # it waits behind the find bar
        assert bar.input.has_focus and bar.input.value == "weigh"
        await type_text(pilot, "ing")  # keys keep going where they were typed
        assert bar.input.value == "weighing" and not (project / "found.py").exists()
        assert "waits for your review" in str(app.query_one("#gate-waiting").render())
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await wait_for(pilot, lambda: app.screen.takes_keys)
        await pilot.press("y")
        await wait_for(pilot, lambda: (project / "found.py").exists())
