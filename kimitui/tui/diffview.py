"""The diff of one proposed edit, on Textual's line API.

Only the lines on screen become ``Strip``s; rows and highlighting come from
:class:`~kimitui.tui.diffrows.DiffRows`. The cursor moves hunk by hunk and
each hunk can be selected or not; the view posts :class:`DiffView.Changed`
when either changes. Unified, or side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.actions import SkipAction
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from kimitui.tools.edits import NO_NEWLINE, Hunk
from kimitui.tui.diffrows import ADDED, HEADER, MARK, NEW, OLD, REMOVED, DiffRows, Row, SplitRow

SIGNS = {ADDED: "+", REMOVED: "-"}
CLASSES = ("header", "cursor", "added", "removed", "number", "off", "mark", "bar", "divider")


class DiffView(ScrollView, can_focus=True):
    """Hunks with line numbers and highlighting; cursor and selection per hunk."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {f"diff-view--{name}" for name in CLASSES}
    BINDINGS: ClassVar = [
        Binding("j,down", "next_hunk", "next hunk", key_display="j/↓"),
        Binding("k,up", "previous_hunk", "prev hunk", key_display="k/↑", show=False),
        Binding("space", "toggle_hunk", "toggle hunk"),
    ]

    @dataclass
    class Changed(Message):
        """The cursor or the selection moved."""

        view: DiffView

        @property
        def control(self) -> DiffView:
            return self.view

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.rows = DiffRows((), "")
        self.cursor = 0
        self.selected: set[int] = set()
        self.side_by_side = False
        self._styles: dict[str, Style] = {}
        self._mixed: dict[tuple[str, Style], Style] = {}
        self._prelex: Timer | None = None
        # (row index, width, scroll x) -> the drawn line. A scroll's first frames
        # mostly redraw lines already drawn; any change of content or state clears it.
        self._drawn: dict[tuple[int, int, int], Strip] = {}

    def refresh(self, *regions: Region, **kwargs: bool) -> Self:
        """A whole refresh means something shown changed; scrolling refreshes regions."""
        if not regions:
            self._drawn.clear()
        return super().refresh(*regions, **kwargs)

    # -- content ---------------------------------------------------------

    def show(self, hunks: tuple[Hunk, ...], path: str, selected: set[int] | None = None) -> None:
        self.rows = DiffRows(hunks, path)
        self.selected = {h.index for h in hunks} if selected is None else set(selected)
        self.cursor = 0
        self.scroll_to(0, 0, animate=False, immediate=True)
        self._resize()
        if self._prelex is None:
            self._prelex = self.set_interval(PRELEX_S, self._prelex_step, name="diff-prelex")
        else:
            self._prelex.resume()

    def _prelex_step(self) -> None:
        """Highlight ahead of the reader, one chunk per tick, so scrolling only draws."""
        top, height = self.scroll_offset.y, max(self.size.height, 1)
        window = self._current_rows()[max(top - height, 0) : top + 3 * height]
        near = [r for row in window for r in _unified(row) if r is not None]
        if not self.rows.prelex(near) and self._prelex is not None:
            self._prelex.pause()

    @property
    def hunk_count(self) -> int:
        return len(self.rows.hunks)

    def set_side_by_side(self, on: bool) -> None:
        if on != self.side_by_side:
            self.side_by_side = on
            self._resize()
            self._reveal()

    def _current_rows(self) -> list[Row] | list[SplitRow]:
        return self.rows.split if self.side_by_side else self.rows.unified

    def _starts(self) -> list[int]:
        return self.rows.split_starts if self.side_by_side else self.rows.hunk_starts

    def _gutter(self) -> int:
        return 2 * self.rows.number_width + 5  # bar, two numbers, sign, spaces

    def _resize(self) -> None:
        width = 0 if self.side_by_side else self._gutter() + self.rows.max_width
        self.virtual_size = Size(width, len(self._current_rows()))
        self.refresh()

    # -- cursor and selection ----------------------------------------------

    def action_next_hunk(self) -> None:
        self.move_cursor(self.cursor + 1)

    def action_previous_hunk(self) -> None:
        self.move_cursor(self.cursor - 1)

    def move_cursor(self, index: int) -> None:
        if not self.hunk_count:
            return
        index = max(0, min(index, self.hunk_count - 1))
        if index != self.cursor:
            self.cursor = index
            self.refresh()
            self.post_message(self.Changed(self))
        self._reveal()

    def action_toggle_hunk(self) -> None:
        if not self.hunk_count:
            return
        self.selected ^= {self.cursor}
        self.refresh()
        self.post_message(self.Changed(self))

    def _reveal(self) -> None:
        starts = self._starts()
        if not starts:
            return
        top = starts[self.cursor]
        rows = len(self._current_rows())
        end = starts[self.cursor + 1] if self.cursor + 1 < len(starts) else rows
        height = self.scrollable_content_region.height
        if top < self.scroll_offset.y or end > self.scroll_offset.y + height:
            self.scroll_to(y=max(top - 1, 0), animate=False, immediate=True)

    # A page jumps, as in a pager: an animated scroll only starts drawing a frame later.
    def action_page_down(self) -> None:
        if not self.allow_vertical_scroll:
            raise SkipAction()
        self.scroll_page_down(animate=False)

    def action_page_up(self) -> None:
        if not self.allow_vertical_scroll:
            raise SkipAction()
        self.scroll_page_up(animate=False)

    def on_click(self, event: events.Click) -> None:
        rows = self._current_rows()
        y = self.scroll_offset.y + event.y
        if 0 <= y < len(rows):
            self.move_cursor(rows[y].hunk)

    # -- styles ------------------------------------------------------------

    def notify_style_update(self) -> None:
        self._styles.clear()
        self._mixed.clear()
        self._drawn.clear()
        super().notify_style_update()

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            if name == "base":
                style = self.rich_style
            else:
                style = self.get_component_rich_style(f"diff-view--{name}")
            self._styles[name] = style
        return style

    def _mix(self, name: str, token: Style) -> Style:
        """A line style (by name) under a token style, cached: render_line runs a lot."""
        key = (name, token)
        style = self._mixed.get(key)
        if style is None:
            style = self._mixed[key] = self._style(name) + token if name else token
        return style

    # -- rendering ---------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = self.scroll_offset.y + y
        key = (index, width, self.scroll_offset.x)
        strip = self._drawn.get(key)
        if strip is None:
            if len(self._drawn) > MAX_DRAWN:
                self._drawn.clear()
            strip = self._drawn[key] = self._draw(index, width)
        return strip

    def _draw(self, index: int, width: int) -> Strip:
        base = self._style("base")
        rows = self._current_rows()
        if index >= len(rows):
            return Strip.blank(width, base)
        row = rows[index]
        if isinstance(row, SplitRow):
            strip = self._split_line(row, width)
        else:
            strip = self._unified_line(row, width)
        return strip.apply_style(base)

    def _bar(self, hunk: int) -> Segment:
        return Segment("▌" if hunk == self.cursor else " ", self._style("bar"))

    def _header(self, hunk: int, width: int) -> Strip:
        info = self.rows.hunks[hunk]
        mark = "[x]" if hunk in self.selected else "[ ]"
        text = f" {mark} hunk {hunk + 1}/{self.hunk_count}  {info.header}"
        style = self._style("cursor" if hunk == self.cursor else "header")
        return Strip([self._bar(hunk), Segment(text, style)]).crop_extend(0, width, style)

    def _line_name(self, row: Row) -> str:
        if row.kind == MARK:
            return "mark"
        if row.kind not in SIGNS:
            return ""
        return "off" if row.hunk not in self.selected else SIGNS_STYLE[row.kind]

    def _line_style(self, row: Row) -> Style:
        name = self._line_name(row)
        return self._style(name) if name else NO_STYLE

    def _code(self, row: Row, side: int, start: int, width: int) -> list[Segment]:
        name = self._line_name(row)
        if row.kind == MARK:
            spans = [(NO_NEWLINE, NO_STYLE)]
        elif name == "off":
            spans = [(text, NO_STYLE) for text, _ in self.rows.spans(row, side)]
        else:
            spans = self.rows.spans(row, side)
        segments = [Segment(text, self._mix(name, token)) for text, token in spans]
        fill = self._line_style(row)
        if start:  # scrolled sideways: the rare case pays for a Strip
            return list(Strip(segments).crop_extend(start, start + width, fill))
        # One pass, no intermediate Strips: this runs for every line drawn.
        return Segment.adjust_line_length(segments, width, fill, pad=True)

    def _number(self, value: int) -> Segment:
        text = str(value) if value else ""
        return Segment(text.rjust(self.rows.number_width) + " ", self._style("number"))

    def _unified_line(self, row: Row, width: int) -> Strip:
        if row.kind == HEADER:
            return self._header(row.hunk, width)
        gutter = self._gutter()
        style = self._line_style(row)
        sign = SIGNS.get(row.kind, " ")
        side = OLD if row.kind in (REMOVED, MARK) or row.new_at < 0 else NEW
        head = [self._bar(row.hunk), self._number(row.old_no), self._number(row.new_no)]
        head.append(Segment(f"{sign} ", style))
        if width <= gutter:
            return Strip(head).crop_extend(0, width, style)
        code = self._code(row, side, self.scroll_offset.x, width - gutter)
        return Strip([*head, *code], width)

    def _split_line(self, row: SplitRow, width: int) -> Strip:
        if row.header:
            return self._header(row.hunk, width)
        half = max((width - 2) // 2, 1)
        left = self._half(row.left, OLD, half)
        right = self._half(row.right, NEW, width - 2 - half)
        divider = Segment("│", self._style("divider"))
        line = [self._bar(row.hunk), *left, divider, *right]
        # Bar, two halves and divider add up to the width exactly, unless it is tiny.
        return Strip(line, width) if width >= 4 else Strip(line).crop_extend(0, width, None)

    def _half(self, row: Row | None, side: int, width: int) -> list[Segment]:
        if row is None:
            return [Segment(" " * width)]
        style = self._line_style(row)
        number = row.old_no if side == OLD else row.new_no
        sign = SIGNS.get(row.kind, " ")
        head = [self._number(number), Segment(f"{sign} ", style)]
        used = self.rows.number_width + 3
        if width <= used:
            return list(Strip(head).crop_extend(0, width, style))
        return [*head, *self._code(row, side, self.scroll_offset.x, width - used)]


SIGNS_STYLE = {ADDED: "added", REMOVED: "removed"}
NO_STYLE = Style()
PRELEX_S = 0.02  # one chunk of highlighting per tick while the view is idle
MAX_DRAWN = 2_000  # lines kept drawn; a few screens' worth


def _unified(row: Row | SplitRow) -> tuple[Row | None, ...]:
    return (row.left, row.right) if isinstance(row, SplitRow) else (row,)
