"""Hostile text for the terminal-safety tests: strategies and the checks on output.

The forbidden set is written out here on its own, not imported from
kimitui.core.safetext, so a sanitizer that forgot a character fails the tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from hypothesis import strategies as st
from rich.segment import Segment

# Everything a terminal would obey (C0 but newline and tab, DEL, C1), the bidi
# controls, and lone surrogates (cannot be encoded, so writing them crashes).
RAW = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
# Inside one rendered line newline and tab are forbidden too.
RAW_IN_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)

OSC52 = "a\x1b]52;c;dHJlZQ==\x1b\\.py"  # sets the clipboard to "tree"
OSC_TITLE = "b\x1b]0;pwned\x07.py"  # sets the window title
CLEAR = "\x1b[2J\x1b[H"
SEQUENCES = (
    CLEAR,
    "\x1b]52;c;dHJlZQ==\x1b\\",
    "\x1b]0;pwned\x07",
    "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "\x9b2J",  # a one-byte CSI
    "\x1bP+q544e\x1b\\",  # DCS
    "\x1b[31m",
    "\r\n",
    "line\roverwritten",
    "\x08\x08\x08",
    "\u202eevil\u202c",
    "[/]",
    "[/]oops",
    "[link=https://evil.example]x[/link]",
    "[b]bold[/b]",
    "[@click=app.quit]x[/]",
    "\\[x]",
    "\udcff\udcfe",  # bytes 0xff 0xfe from a surrogateescape decode
    "\ud83d",  # a half of a pair
)
CONTROLS = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))] + [
    *"\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
    "\ud800",
    "\udc80",
    "\udfff",
]

undecodable = st.binary(max_size=24).map(lambda b: b.decode("utf-8", "surrogateescape"))
pieces = st.one_of(
    st.text(max_size=12),
    st.sampled_from(CONTROLS),
    st.sampled_from(SEQUENCES),
    undecodable,
)
hostile_text = st.lists(pieces, max_size=10).map("".join)


def raw_in(text: str, pattern: re.Pattern[str] = RAW) -> list[str]:
    """The forbidden characters found in ``text``, for a readable assertion message."""
    return [repr(m.group()) for m in pattern.finditer(text)]


def assert_clean(text: str) -> None:
    found = raw_in(text)
    assert not found, f"raw control characters {found} in {text!r}"
    text.encode("utf-8")  # and it can be written


def assert_clean_segments(segments: Iterable[Segment]) -> None:
    """No text segment holds a control, and no style is a link nobody asked for."""
    for segment in segments:
        if segment.control:
            continue  # the renderer's own cursor moves
        found = raw_in(segment.text, RAW_IN_LINE)
        assert not found, f"raw control characters {found} in segment {segment.text!r}"
        segment.text.encode("utf-8")
        style = segment.style
        assert style is None or not style.link, f"a link in {segment.text!r}: {style.link}"
