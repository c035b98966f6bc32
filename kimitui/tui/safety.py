"""Terminal safety for the TUI: plain-text labels and a last-line filter.

Widgets show untrusted text through :func:`plain` (or a TextView Block, or
``Static(..., markup=False)`` with :func:`~kimitui.core.safetext.safe_line`):
it is never parsed as markup, so ``[/]`` cannot crash a render and
``[link=...]`` is not a link, and its controls are shown as escapes.

:class:`ControlFilter` is the backstop behind that: a Textual line filter run
on every rendered line of every widget (Textual's own included: Input, Footer,
notifications), just before the line is turned into terminal output. Should
anything have slipped past the widgets, a control character becomes its
visible "control picture" (ESC as ␛), and a character that cannot be encoded
(a lone surrogate) or a bidi override becomes U+FFFD, instead of reaching the
terminal. Normally it finds nothing and hands the line back untouched.
"""

from __future__ import annotations

import re

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.filter import LineFilter

from kimitui.core.safetext import UNSAFE_IN_LINE, safe_line

# Anything a terminal would act on or an encoder would reject, newline and tab
# included: inside one rendered line both would move the cursor.
_RAW = UNSAFE_IN_LINE


def plain(text: str, style: str | Style = "", *, cell: bool = False) -> Text:
    """A one-line label: never markup, controls shown as escapes.

    ``cell`` makes it what a DataTable makes of a one-line string cell (no wrap,
    no line end), so a table looks the same as with markup strings.
    """
    if cell:
        return Text(safe_line(text), style=style, no_wrap=True, end="")
    return Text(safe_line(text), style=style)


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # U+2400..U+241F: ␀ .. ␟ (ESC is ␛)
    if code == 0x7F:
        return "\u2421"  # ␡
    return "\ufffd"


class ControlFilter(LineFilter):
    """Replaces any raw control character in a rendered line by a visible one."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        if not any(_RAW.search(s.text) for s in segments if not s.control):
            return segments
        width = sum(cell_len(s.text) for s in segments if not s.control)
        cleaned = [
            s if s.control else Segment(_RAW.sub(_picture, s.text), s.style) for s in segments
        ]
        # Controls take no cells but their pictures take one: keep the line's width.
        return list(Segment.adjust_line_length(cleaned, width))
