"""A cheap, wrapped, append-only text view built on Textual's line API.

Textual's ``Log`` does not wrap and ``RichLog`` cannot extend a line, so
streamed prose needs its own widget. Text lives in blocks (one per message or
step); a block keeps the start offsets of its wrapped lines for the current
width, and appending re-wraps only from the start of its last line, so a
20 Hz flush costs the size of the new text, not of the whole pane. Only the
visible lines are turned into ``Strip``s. A block may be collapsed to a single
summary line, which is how old steps leave the screen without leaving the
session.

Text is drawn as plain segments (never markup) and made terminal-safe on its
way in (:func:`shown`): the model's text and tool output may hold escape
sequences, which are shown, not obeyed.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.selection import Selection
from textual.strip import Strip

from kimitui.core.safetext import safe, safe_line
from kimitui.tui.textmarks import TO_END, Span, overlay, selected_text

TAB = "    "  # a tab is four spaces: the same whatever fragment a stream cuts it in


def shown(text: str) -> str:
    """``text`` as the view holds it: controls escaped, tabs as spaces (they take no cells)."""
    text = safe(text)
    return text.replace("\t", TAB) if "\t" in text else text


def _cells(text: str) -> int:
    return len(text) if text.isascii() else cell_len(text)


def _fit(text: str, start: int, end: int, width: int) -> int:
    """The furthest offset in [start, end] whose text fits in ``width`` cells."""
    if end - start <= width and _cells(text[start:end]) <= width:
        return end
    stop = min(end, start + width)
    while stop > start + 1 and _cells(text[start:stop]) > width:
        stop -= 1
    return max(stop, start + 1)


def wrap_starts(text: str, start: int, width: int) -> list[int]:
    """Greedy word wrap of ``text[start:]``: the start offset of every line.

    Lines break at newlines, else at the last space that fits, else hard.
    Re-wrapping from a line start gives the same lines as wrapping from 0.
    """
    width = max(width, 1)
    starts = [start]
    pos, size = start, len(text)
    while pos < size:
        newline = text.find("\n", pos)
        para_end = size if newline == -1 else newline
        stop = _fit(text, pos, para_end, width)
        if stop >= para_end:
            if newline == -1:
                break
            pos = newline + 1
        else:
            space = text.rfind(" ", pos, stop + 1)
            pos = space + 1 if space > pos else stop
        starts.append(pos)
    return starts


@dataclass
class Block:
    """One run of text with one style: a message, a step's thinking, a notice."""

    text: str
    style: Style = field(default_factory=Style)
    prefix: str = ""
    prefix_style: Style = field(default_factory=Style)
    summary: str = ""
    collapsed: bool = False
    key: str = ""
    _starts: list[int] = field(default_factory=list, repr=False)
    _width: int = field(default=-1, repr=False)

    def __post_init__(self) -> None:
        self.text = shown(self.text)

    @property
    def collapsible(self) -> bool:
        return bool(self.summary)

    def full(self) -> str:
        return safe_line(self.prefix) + self.text

    def line_count(self, width: int) -> int:
        if self.collapsed:
            return 1
        self._layout(width)
        return len(self._starts)

    def _layout(self, width: int) -> None:
        if width != self._width:
            self._width = width
            self._starts = wrap_starts(self.full(), 0, width)

    def appended(self) -> None:
        """Text was added at the end: re-wrap from the start of the last line."""
        if self._width < 0 or not self._starts:
            return
        last = self._starts.pop()
        self._starts.extend(wrap_starts(self.full(), last, self._width))

    def invalidate(self) -> None:
        self._width = -1

    def line_span(self, y: int, width: int) -> tuple[int, int]:
        """Where wrapped line ``y`` starts and ends in :meth:`full` (its newline left out)."""
        self._layout(width)
        full = self.full()
        start = self._starts[y]
        end = self._starts[y + 1] if y + 1 < len(self._starts) else len(full)
        return start, start + len(full[start:end].rstrip("\n"))

    def line_at(self, offset: int, width: int) -> int:
        """The wrapped line that holds character ``offset`` of :meth:`full`."""
        if self.collapsed:
            return 0
        self._layout(width)
        return max(bisect_right(self._starts, offset) - 1, 0)

    def line(self, y: int, width: int) -> list[Segment]:
        if self.collapsed:
            marker = "▸ " if self.collapsible else ""
            text = (marker + safe_line(self.summary))[: max(width, 1)]
            return [Segment(text, self.prefix_style)]
        self._layout(width)
        if y >= len(self._starts):
            return []
        full = self.full()
        start = self._starts[y]
        end = self._starts[y + 1] if y + 1 < len(self._starts) else len(full)
        text = full[start:end].rstrip("\n")
        if y == 0 and self.prefix:
            prefix = safe_line(self.prefix)
            return [Segment(prefix, self.prefix_style), Segment(text[len(prefix) :], self.style)]
        return [Segment(text, self.style)]


class TextView(ScrollView, can_focus=True):
    """Blocks of wrapped text; appends are cheap and old blocks can collapse."""

    DEFAULT_CSS = """
    TextView { overflow-x: hidden; overflow-y: auto; scrollbar-gutter: stable; }
    TextView > .textview--match { background: $warning 40%; }
    TextView > .textview--match-current { background: $accent; color: $text; text-style: bold; }
    TextView > .textview--chosen { background: $primary 15%; }
    """
    # Find marks, the current match, and the message chosen for copying.
    COMPONENT_CLASSES: ClassVar = {
        "textview--match",
        "textview--match-current",
        "textview--chosen",
    }

    @dataclass
    class BlockClicked(Message):
        view: TextView
        index: int

        @property
        def control(self) -> TextView:
            return self.view

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.blocks: list[Block] = []
        self._tops: list[int] = []
        self._width = 0
        self.version = 0  # bumped by every change of the text: a find knows to search again
        # Found text, by block index: [start, end) in the block's full() text.
        self.marks: dict[int, list[tuple[int, int]]] = {}
        self.current_mark: tuple[int, int, int] | None = None  # block, start, end
        self.chosen: int | None = None  # the block a copy takes (clicked or found)

    # -- content ---------------------------------------------------------

    def add(self, block: Block) -> Block:
        self.blocks.append(block)
        self._changed()
        return block

    def append(self, text: str) -> None:
        """Extend the last block's text (streamed fragments)."""
        if not self.blocks:
            self.add(Block(""))
        self.extend(self.blocks[-1], text)

    def extend(self, block: Block, text: str) -> None:
        """Append streamed text to ``block`` (cheap when it is the last block)."""
        block.text += shown(text)
        if block is not self.blocks[-1]:
            block.invalidate()
            self._changed()
            return
        # Only the last line and what follows it can change: repaint just those.
        tail = self.virtual_size.height - 1
        block.appended()
        self._changed(tail=tail if not block.collapsed else None)

    def replace(self, block: Block, text: str) -> None:
        block.text = shown(text)
        block.invalidate()
        self._changed()

    def repaint_blocks(self) -> None:
        """Blocks were changed in place (a summary line): lay out and repaint."""
        self._changed(follow=False)

    def clear(self) -> None:
        self.blocks.clear()
        self.marks.clear()
        self.current_mark = None
        self.chosen = None
        self._changed()

    def toggle(self, index: int) -> None:
        block = self.blocks[index]
        if block.collapsible:
            block.collapsed = not block.collapsed
            self._changed(follow=False)

    def set_all_collapsed(self, collapsed: bool) -> None:
        for block in self.blocks:
            if block.collapsible:
                block.collapsed = collapsed
        self._changed(follow=False)

    @property
    def plain(self) -> str:
        """Everything the view shows, as text (tests and copy)."""
        width = self.wrap_width()
        lines = []
        for block in self.blocks:
            for y in range(block.line_count(width)):
                lines.append("".join(s.text for s in block.line(y, width)))
        return "\n".join(lines)

    # -- layout ----------------------------------------------------------

    def _changed(self, follow: bool = True, tail: int | None = None) -> None:
        """Lay out again and repaint: all of it, or only from line ``tail`` down."""
        self.version += 1
        at_end = self.scroll_offset.y >= self.max_scroll_y - 1
        scroll_y = self.scroll_offset.y
        laid_out = self._relayout()
        if follow and at_end:
            # After a layout (the scrollbar came or went) the scroll must wait for it.
            self.scroll_end(animate=False, x_axis=False, immediate=not laid_out)
        if tail is None or self.scroll_offset.y != scroll_y or tail < 0:
            self.refresh()
        else:
            self.refresh_lines(tail, self.virtual_size.height - tail)

    def wrap_width(self) -> int:
        return self._width or max(self.scrollable_content_region.width, 1)

    def _relayout(self) -> bool:
        """Recount lines; True if a layout of the screen was needed."""
        width = self.wrap_width()
        tops, total = [], 0
        for block in self.blocks:
            tops.append(total)
            total += block.line_count(width)
        self._tops = tops
        return self._set_virtual_size(Size(width, total))

    def _set_virtual_size(self, size: Size) -> bool:
        """Like ``virtual_size = size``, without a layout of the whole screen when possible.

        The view's own size never depends on its content, so a layout is only needed
        when the scrollbar appears or disappears. True if one was requested.
        """
        old = self.virtual_size
        if size == old:
            return False
        height = self.scrollable_content_region.height
        if not self.is_mounted or (size.height > height) != (old.height > height):
            self.virtual_size = size
            return True
        self.set_reactive(TextView.virtual_size, size)
        self._scroll_update(size)
        return False

    def on_resize(self, event: events.Resize) -> None:
        width = max(self.scrollable_content_region.width, 1)
        if width != self._width:
            self._width = width
            for block in self.blocks:
                block.invalidate()
            self._relayout()

    def locate(self, y: int) -> tuple[int, int] | None:
        index = bisect_right(self._tops, y) - 1
        if index < 0 or index >= len(self.blocks):
            return None
        line = y - self._tops[index]
        if line >= self.blocks[index].line_count(self.wrap_width()):
            return None
        return index, line

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        found = self.locate(self.scroll_offset.y + y)
        if found is None:
            return Strip.blank(width, base)
        index, line = found
        block = self.blocks[index]
        spans = self._spans(index, line, self.scroll_offset.y + y)
        segments = [
            Segment(s.text, base + s.style if s.style else base)
            for s in overlay(block.line(line, self.wrap_width()), spans)
        ]
        # Offsets let Textual's mouse selection know which character is where.
        strip = Strip(segments).crop_extend(0, width, base)
        return strip.apply_offsets(0, self.scroll_offset.y + y)

    # -- marks, the chosen block and selection ------------------------------------

    def _spans(self, index: int, line: int, virtual_y: int) -> list[Span]:
        """Styles laid over one line: chosen block, find marks, the mouse selection."""
        block = self.blocks[index]
        spans: list[Span] = []
        if index == self.chosen:
            spans.append((0, TO_END, self.get_component_rich_style("textview--chosen")))
        marks = self.marks.get(index)
        if marks and not block.collapsed:
            start, end = block.line_span(line, self.wrap_width())
            found = self.get_component_rich_style("textview--match")
            current = self.get_component_rich_style("textview--match-current")
            for a, b in marks:
                if a < end and b > start:
                    style = current if self.current_mark == (index, a, b) else found
                    spans.append((max(a, start) - start, min(b, end) - start, style))
        selection = self.text_selection
        if selection is not None and (got := selection.get_span(virtual_y)) is not None:
            a, b = got
            style = self.screen.get_component_rich_style("screen--selection")
            spans.append((a, TO_END if b == -1 else b, style))
        return spans

    def set_marks(self, marks: dict[int, list[tuple[int, int]]]) -> None:
        self.marks = marks
        if self.current_mark is not None and self.current_mark[0] not in marks:
            self.current_mark = None
        self.refresh()

    def show_mark(self, index: int, start: int, end: int) -> None:
        """Make a match the current one: its block opened, chosen, and scrolled into view."""
        block = self.blocks[index]
        self.current_mark = (index, start, end)
        self.chosen = index
        if block.collapsed:
            block.collapsed = False
            self._changed(follow=False)
        y = self._tops[index] + block.line_at(start, self.wrap_width())
        self.scroll_to_region(Region(0, y, 1, 1), center=True, animate=False, immediate=True)
        self.refresh()

    def line_top(self, index: int) -> int:
        """The virtual line where block ``index`` starts."""
        return self._tops[index]

    def choose(self, index: int | None) -> None:
        self.chosen = index
        self.refresh()

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """The selected text as it was written: soft wraps joined, no borders or padding."""
        text = selected_text(self, selection)
        return None if text is None else (text, "\n")

    def on_click(self, event: events.Click) -> None:
        found = self.locate(self.scroll_offset.y + event.y)
        if found is not None:
            self.choose(found[0])  # the message a copy takes
        if found is not None and found[1] == 0:
            self.post_message(self.BlockClicked(self, found[0]))
