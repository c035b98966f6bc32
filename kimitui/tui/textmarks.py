"""What a TextView lays over its text (find marks, the mouse selection) and gives back.

Kept apart from the view's layout code: :func:`overlay` styles parts of a line
without re-wrapping anything, and :func:`selected_text` turns a mouse selection
(screen rows and columns) into the text as it was written, soft wraps joined
and no borders, padding or scrollbar in it.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

from rich.segment import Segment
from rich.style import Style
from textual.selection import Selection

from kimitui.core.safetext import safe_line

if TYPE_CHECKING:
    from kimitui.tui.textview import TextView

Span = tuple[int, int, Style]  # [start, end) in a line's characters, and the style laid over it
TO_END = 1 << 30  # a span's end that runs to the end of the line


def overlay(segments: list[Segment], spans: list[Span]) -> list[Segment]:
    """``segments`` with each span's style added over its characters (spans may overlap)."""
    if not spans:
        return segments
    out: list[Segment] = []
    pos = 0
    for segment in segments:
        text, style = segment.text, segment.style
        end = pos + len(text)
        cuts = sorted({pos, end, *(c for a, b, _ in spans for c in (a, b) if pos < c < end)})
        for a, b in pairwise(cuts):
            piece = style
            for start, stop, extra in spans:
                if start <= a and b <= stop:
                    piece = piece + extra if piece else extra
            out.append(Segment(text[a - pos : b - pos], piece))
        pos = end
    return out


def block_text(view: TextView, index: int) -> str:
    """A block as one piece of text: unwrapped; a collapsed one is its summary line."""
    block = view.blocks[index]
    return safe_line(block.summary) if block.collapsed else block.full()


def point(view: TextView, x: int, y: int) -> tuple[int, int] | None:
    """Block index and character offset in its text at selection offset (x, y)."""
    found = view.locate(y)
    if found is None:
        return None
    index, line = found
    block = view.blocks[index]
    if block.collapsed:
        return index, min(max(x, 0), len(block_text(view, index)))
    start, end = block.line_span(line, view.wrap_width())
    return index, min(start + max(x, 0), end)


def selected_text(view: TextView, selection: Selection) -> str | None:
    """The text under a mouse selection, block by block, one newline between blocks."""
    if not view.blocks:
        return None
    last = len(view.blocks) - 1
    begin = point(view, *selection.start) if selection.start is not None else None
    finish = point(view, *selection.end) if selection.end is not None else None
    begin = begin or (0, 0)
    finish = finish or (last, len(block_text(view, last)))
    parts = []
    for index in range(begin[0], finish[0] + 1):
        text = block_text(view, index)
        lo = begin[1] if index == begin[0] else 0
        hi = finish[1] if index == finish[0] else len(text)
        parts.append(text[lo:hi])
    return "\n".join(parts)
