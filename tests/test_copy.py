"""Copy from the transcript: a selection or a message, to OSC 52 and the app's clipboard."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import ClassVar

from rich.style import Style
from textual.app import App, ComposeResult
from textual.geometry import Offset
from textual.selection import Selection
from textual.widgets import TextArea
from tui_helpers import make_project, running, wait_for

from kimitui.demo.script import Turn
from kimitui.tui.clip import clipboard_doubt, copy_from, size_of
from kimitui.tui.textview import Block, TextView

LONG = (
    "The pricing rules move to pricing.py and the dataclasses to models.py, "
    "while app.py keeps re-exporting total() so that every test still imports it."
)


class CopyApp(App[None]):
    """A transcript and a message box; F2 copies as kimitui's does."""

    CSS = "TextView { height: 1fr; } TextArea { height: 4; }"
    BINDINGS: ClassVar = [("f2", "copy", "copy")]

    def __init__(self, blocks: list[Block]) -> None:
        super().__init__()
        self.initial = blocks
        self.notices: list[str] = []
        self.written: list[str] = []  # what went to the terminal

    def compose(self) -> ComposeResult:
        yield TextView(id="transcript")
        yield TextArea(id="box")

    def on_mount(self) -> None:
        view = self.query_one(TextView)
        for block in self.initial:
            view.add(block)
        driver = self._driver
        assert driver is not None
        real_write = driver.write

        def spy(data: str) -> None:  # the terminal's side of the line, for the test
            self.written.append(data)
            real_write(data)

        driver.write = spy  # type: ignore[method-assign]

    def action_copy(self) -> None:
        self.notices.append(copy_from(self, self.query_one(TextView), env={}))


def blocks() -> list[Block]:
    bold = Style(bold=True)
    return [
        Block("split app.py", prefix="you ▸ ", prefix_style=bold),
        Block(LONG, prefix="kimi ▸ ", prefix_style=bold),
        Block("tests pass", prefix="· "),
    ]


def osc52(written: list[str]) -> str:
    found = re.findall(r"\x1b\]52;c;([A-Za-z0-9+/=]*)\x07", "".join(written))
    assert found, "no OSC 52 sequence was written"
    return base64.b64decode(found[-1]).decode()


async def test_the_newest_message_is_copied_without_its_label_or_wraps() -> None:
    app = CopyApp(blocks())
    async with app.run_test(size=(50, 20)) as pilot:
        await pilot.press("f2")
        assert app.clipboard == LONG  # one line again, though the view wrapped it
        assert osc52(app.written) == LONG
        assert app.notices == [f"copied the message from kimi (1 line, {len(LONG)} characters)"]


async def test_a_clicked_message_is_the_one_copied_and_pastes_inside_the_app() -> None:
    app = CopyApp(blocks())
    async with app.run_test(size=(50, 20)) as pilot:
        await pilot.click(TextView, offset=(2, 0))  # the "you ▸ split app.py" line
        view = app.query_one(TextView)
        assert view.chosen == 0
        await pilot.press("f2")
        assert app.clipboard == "split app.py"
        box = app.query_one(TextArea)
        box.focus()
        await pilot.press("ctrl+v")  # the app's own clipboard, whatever the terminal did
        assert box.text == "split app.py"


async def test_a_mouse_selection_is_copied_as_written() -> None:
    app = CopyApp(blocks())
    async with app.run_test(size=(50, 20)) as pilot:
        view = app.query_one(TextView)
        width = view.wrap_width()
        kimi = view.blocks[1]
        assert kimi.line_count(width) >= 3
        # Drag from "pricing" on the answer's first line to the third wrapped line.
        row = view.line_top(1)
        x = kimi.full().index("pricing")
        third, _ = kimi.line_span(2, width)
        await pilot.mouse_down(TextView, offset=(x, row))
        await pilot.hover(TextView, offset=(5, row + 2))
        await pilot.mouse_up(TextView, offset=(5, row + 2))
        await pilot.pause()
        await pilot.press("f2")
        # Textual's selection takes in the character under the pointer at the end.
        assert app.clipboard == kimi.full()[x : third + 6]
        assert "\n" not in app.clipboard  # soft wraps are not newlines
        assert app.notices[-1].startswith("copied the selection (1 line")


async def test_a_selection_across_messages_keeps_one_newline_between_them() -> None:
    app = CopyApp(blocks())
    async with app.run_test(size=(50, 20)) as pilot:
        view = app.query_one(TextView)
        last_row = view.line_top(2)
        app.screen.selections = {view: Selection(Offset(6, 0), Offset(4, last_row))}
        await pilot.press("f2")
        expected = "split app.py\nkimi ▸ " + LONG + "\n· te"
        assert app.clipboard == expected
        assert app.notices[-1] == f"copied the selection (3 lines, {len(expected)} characters)"


async def test_hostile_text_is_copied_escaped_and_nothing_copied_says_so() -> None:
    app = CopyApp([Block("ok \x1b]0;pwned\x07 \x9b31m", prefix="kimi ▸ ")])
    async with app.run_test(size=(50, 10)) as pilot:
        await pilot.press("f2")
        assert "\x1b" not in app.clipboard and "\x9b" not in app.clipboard
        assert app.clipboard == "ok \\x1b]0;pwned\\x07 \\x9b31m"
    empty = CopyApp([])
    async with empty.run_test(size=(50, 10)) as pilot:
        await pilot.press("f2")
        assert empty.clipboard == ""
        assert empty.notices[0].startswith("nothing to copy")


def test_the_notice_says_where_the_system_clipboard_may_not_have_it() -> None:
    assert "macOS Terminal" in clipboard_doubt({"TERM_PROGRAM": "Apple_Terminal"})
    assert "set-clipboard" in clipboard_doubt({"TMUX": "/tmp/tmux-1000/default,1,0"})
    assert clipboard_doubt({"TERM": "xterm-256color"}) == ""
    assert size_of("a\nb") == "2 lines, 3 characters"


async def test_f2_in_kimitui_copies_the_answer_and_ctrl_v_pastes_it_in_the_composer(
    tmp_path: Path,
) -> None:
    answer = "Moved total() to pricing.py;\napp.py re-exports it."
    project = make_project(tmp_path)
    async with running(project, [Turn(content=answer)], task="split") as (app, _server, pilot):
        await wait_for(pilot, lambda: not app.run_active and "re-exports" in app.transcript.plain)
        await pilot.press("f2")
        assert app.clipboard == answer  # the newest message, without "kimi ▸"
        box = app.composer.input
        assert box.has_focus and box.text == ""
        await pilot.press("ctrl+v")
        assert box.text == answer


async def test_a_selection_in_kimitui_is_copied_by_f2_and_by_ctrl_c(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    answer = "pricing.py holds the rules now"
    async with running(project, [Turn(content=answer)], task="go") as (app, _server, pilot):
        await wait_for(pilot, lambda: not app.run_active and "rules now" in app.transcript.plain)
        view = app.transcript
        row = next(i for i, b in enumerate(view.blocks) if b.text == answer)
        start = view.blocks[row].full().index("pricing")
        y = view.line_top(row)
        app.screen.selections = {view: Selection(Offset(start, y), Offset(start + 10, y))}
        await pilot.press("f2")
        assert app.clipboard == "pricing.py"
        app.copy_to_clipboard("")
        view.focus()
        await pilot.press("ctrl+c")  # Textual's own copy of a selection reads the same text
        assert app.clipboard == "pricing.py"


async def test_the_palette_offers_find_and_copy(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    async with running(project, [Turn(content="ok")]) as (app, _server, _pilot):
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Find in the transcript" in titles
        assert "Copy the selection or the chosen message" in titles
