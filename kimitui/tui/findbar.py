"""Find in the transcript (ctrl+f): a one-line bar under it, matches marked in the view.

Typing searches as you go; Enter, ↓ or F3 moves to the next match, shift+Enter,
↑ or shift+F3 to the previous one; the current match is opened (a collapsed
step expands), scrolled into view and drawn differently from the others; the
bar counts them ("3/17"). Esc closes it and gives the focus back to where it
was. Smart case: a query with a capital letter matches case exactly, an
all-lowercase one ignores case.

The query is matched against the text as the view shows it (controls as
escapes) and shown through plain labels, so neither the query nor a match is
ever read as markup or reaches the terminal as a control.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, Static

from kimitui.core.safetext import safe_line
from kimitui.tui.textview import Block, TextView

MAX_MATCHES = 5_000  # beyond this the count says "5000+": marks stay cheap to draw
RESYNC_S = 0.5  # while open, text that streamed in is searched again this often

Match = tuple[int, int, int]  # block index, start, end (offsets in the block's full() text)


def smart_pattern(query: str) -> re.Pattern[str] | None:
    """The query as a literal pattern: case-blind unless it holds a capital letter."""
    if not query:
        return None
    shown = safe_line(query)  # a pasted ESC matches the "\x1b" the view shows
    flags = 0 if any(ch.isupper() for ch in shown) else re.IGNORECASE
    return re.compile(re.escape(shown), flags)


def find_matches(blocks: Sequence[Block], query: str, limit: int = MAX_MATCHES) -> list[Match]:
    """Every match of ``query`` in the blocks' text (labels such as "you ▸" left out)."""
    pattern = smart_pattern(query)
    if pattern is None:
        return []
    found: list[Match] = []
    for index, block in enumerate(blocks):
        skip = len(safe_line(block.prefix))
        for hit in pattern.finditer(block.text):
            found.append((index, hit.start() + skip, hit.end() + skip))
            if len(found) >= limit:
                return found
    return found


def count_label(current: int | None, total: int, capped: bool) -> str:
    if total == 0:
        return "no matches"
    more = "+" if capped else ""
    return f"{(current or 0) + 1}/{total}{more}"


class FindBar(Horizontal):
    """The find line: a query box, the count, and which keys move."""

    BINDINGS: ClassVar = [
        Binding("escape", "close", "close find"),
        Binding("down,f3", "next", "next match", key_display="Enter/↓"),
        Binding("up,shift+f3,shift+enter", "previous", "previous match", key_display="↑"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: TextView | None = None
        self.matches: list[Match] = []
        self.current: int | None = None
        self.capped = False
        self._return_to: Widget | None = None
        self._searched_version = -1
        self._resync: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static("find", id="find-label", markup=False)
        yield Input(id="find-input", compact=True, select_on_focus=True)
        yield Static("", id="find-count", markup=False)
        yield Static("Enter/↓ next · ↑ previous · Esc close", id="find-keys", markup=False)

    @property
    def input(self) -> Input:
        return self.query_one("#find-input", Input)

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    # -- opening and closing -------------------------------------------------

    def open(self, view: TextView, return_to: Widget | None, where: str = "transcript") -> None:
        """Search ``view``; Esc later focuses ``return_to`` again."""
        if self.view is not None and self.view is not view:
            self._clear_view()
        self.view = view
        self._return_to = return_to
        self.input.placeholder = f"find in the {where} (a capital letter: match case)"
        self.add_class("-open")
        self.input.focus()
        self.search()
        if self._resync is None:
            self._resync = self.set_interval(RESYNC_S, self._text_moved, name="find-resync")

    def action_close(self) -> None:
        self.remove_class("-open")
        if self._resync is not None:
            self._resync.stop()
            self._resync = None
        self._clear_view()
        target = self._return_to
        self._return_to = None
        if target is not None and target.is_attached and target.focusable:
            target.focus()
        else:
            self.screen.set_focus(None)

    def _clear_view(self) -> None:
        if self.view is not None and self.view.is_attached:
            self.view.current_mark = None
            self.view.set_marks({})

    # -- searching -------------------------------------------------------------

    @on(Input.Changed, "#find-input")
    def _query_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.search()

    @on(Input.Submitted, "#find-input")
    def _enter(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_next()

    def search(self, keep: Match | None = None) -> None:
        """Search again; the current match is ``keep`` (or the next after it), else the
        first one from the top of what the view shows. Only a new query scrolls: text
        streaming in while the bar is open updates marks and count where they are."""
        view = self.view
        if view is None:
            return
        self._searched_version = view.version
        self.matches = find_matches(view.blocks, self.input.value)
        self.capped = len(self.matches) >= MAX_MATCHES
        marks: dict[int, list[tuple[int, int]]] = {}
        for index, start, end in self.matches:
            marks.setdefault(index, []).append((start, end))
        view.set_marks(marks)
        if not self.matches:
            self.current = None
            view.current_mark = None
        else:
            self.current = self._start_at(view, keep)
            if keep is None:
                self._show()
            else:
                view.current_mark = self.matches[self.current]
        self._count()

    def _start_at(self, view: TextView, keep: Match | None) -> int:
        if keep is not None:
            return min(bisect_left(self.matches, keep), len(self.matches) - 1)
        top = view.scroll_offset.y
        width = view.wrap_width()
        for n, (index, start, _) in enumerate(self.matches):
            if view.line_top(index) + view.blocks[index].line_at(start, width) >= top:
                return n
        return 0

    def _text_moved(self) -> None:
        view = self.view
        if view is None or not view.is_attached or view.version == self._searched_version:
            return
        keep = self.matches[self.current] if self.current is not None else None
        self.search(keep)

    def _show(self) -> None:
        if self.view is not None and self.current is not None:
            self.view.show_mark(*self.matches[self.current])

    def _count(self) -> None:
        label = count_label(self.current, len(self.matches), self.capped)
        self.query_one("#find-count", Static).update(label)
        self.set_class(not self.matches and bool(self.input.value), "-none")

    # -- moving ----------------------------------------------------------------

    def _step(self, delta: int) -> None:
        if not self.matches:
            self.app.bell()
            return
        now = self.current if self.current is not None else -delta
        self.current = (now + delta) % len(self.matches)
        self._show()
        self._count()

    def action_next(self) -> None:
        self._step(1)

    def action_previous(self) -> None:
        self._step(-1)
