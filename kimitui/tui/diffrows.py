"""Rows of a diff for display, built once from Hunks, highlighted lazily.

Building the rows is one pass over the hunk lines (a 10,000-line diff costs a
few milliseconds). Syntax highlighting is what is slow, so each side (old and
new) is highlighted in chunks of CHUNK lines, only when a chunk first becomes
visible: a chunk is lexed as one text, so constructs that span lines inside
it (docstrings, comments) come out right.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import zip_longest
from typing import NamedTuple

from pygments.lexer import Lexer
from pygments.lexers import get_lexer_for_filename
from pygments.lexers.special import TextLexer
from pygments.token import _TokenType
from pygments.util import ClassNotFound
from rich.style import Style
from rich.syntax import Syntax

from kimitui.core.safetext import safe_line
from kimitui.tools.edits import NO_NEWLINE, Hunk

HEADER, CONTEXT, REMOVED, ADDED, MARK = range(5)
OLD, NEW = 0, 1
CHUNK = 64
TAB = 4
THEME = Syntax.get_theme("ansi_dark")

Span = tuple[str, Style]


class Row(NamedTuple):
    """One unified line: kind, hunk index, line numbers (0: none), indexes per side (-1: none)."""

    kind: int
    hunk: int
    old_no: int = 0
    new_no: int = 0
    old_at: int = -1
    new_at: int = -1


class SplitRow(NamedTuple):
    """One side-by-side line: a header, or a unified row on each side (None: blank)."""

    hunk: int
    left: Row | None
    right: Row | None
    header: bool = False


def clean(text: str) -> str:
    """Display-safe text: tabs expanded, control and undecodable characters shown escaped."""
    return safe_line(text.expandtabs(TAB))


@lru_cache(maxsize=64)
def _lexer_for_name(name: str) -> Lexer:
    try:
        return get_lexer_for_filename(name, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return TextLexer(stripnl=False, ensurenl=False)


def lexer_for(path: str) -> Lexer:
    """The pygments lexer for a file name (the first lookup loads pygments' map: ~75 ms)."""
    name = path.rsplit("/", 1)[-1]
    suffix = name.rsplit(".", 1)[-1] if "." in name else name
    return _lexer_for_name(f"x.{suffix}" if "." in name else name)


def warm_up() -> None:
    """Load pygments' lexer map ahead of the first review (run it in a thread)."""
    lexer_for("warm.py")


@lru_cache(maxsize=512)
def token_style(token: _TokenType) -> Style:
    return THEME.get_style_for_token(token)


class Highlighter:
    """Lines of one side of the diff, lexed CHUNK lines at a time on demand."""

    def __init__(self, lines: list[str], lexer: Lexer) -> None:
        self.lines = lines
        self.lexer = lexer
        self._chunks: dict[int, list[list[Span]]] = {}

    @property
    def chunk_count(self) -> int:
        return (len(self.lines) + CHUNK - 1) // CHUNK

    def lexed(self, index: int) -> bool:
        return index // CHUNK in self._chunks

    def lex_chunk(self, chunk: int) -> bool:
        """Lex one chunk ahead of need; False when it already was."""
        if chunk in self._chunks or chunk >= self.chunk_count:
            return False
        self._chunks[chunk] = self._lex(chunk)
        return True

    def spans(self, index: int) -> list[Span]:
        chunk = index // CHUNK
        lines = self._chunks.get(chunk)
        if lines is None:
            lines = self._chunks[chunk] = self._lex(chunk)
        return lines[index - chunk * CHUNK]

    def _lex(self, chunk: int) -> list[list[Span]]:
        part = self.lines[chunk * CHUNK : (chunk + 1) * CHUNK]
        out: list[list[Span]] = [[]]
        for token, value in self.lexer.get_tokens("\n".join(part) + "\n"):
            style = token_style(token)
            pieces = value.split("\n")
            for n, piece in enumerate(pieces):
                if n:
                    out.append([])
                if piece:
                    out[-1].append((piece, style))
        out += [[] for _ in range(len(part) - len(out) + 1)]
        return out[: len(part)]


class DiffRows:
    """Unified and side-by-side rows of a list of hunks, plus highlighters."""

    def __init__(self, hunks: Sequence[Hunk], path: str) -> None:
        self.hunks = tuple(hunks)
        self.old_lines: list[str] = []
        self.new_lines: list[str] = []
        self.unified: list[Row] = []
        self.hunk_starts: list[int] = []
        self.max_number = 1
        self.max_width = 0
        for hunk in self.hunks:
            self._add_hunk(hunk)
        self.split, self.split_starts = _split(self.unified)
        lexer = lexer_for(path)
        self.old = Highlighter(self.old_lines, lexer)
        self.new = Highlighter(self.new_lines, lexer)
        self.number_width = len(str(self.max_number))

    def _side(self, lines: list[str], text: str) -> int:
        lines.append(text)
        self.max_width = max(self.max_width, len(text))
        return len(lines) - 1

    def _add_hunk(self, hunk: Hunk) -> None:
        self.hunk_starts.append(len(self.unified))
        self.unified.append(Row(HEADER, hunk.index))
        old_no, new_no = (
            _first_number(hunk.old_start, hunk.old_count),
            _first_number(hunk.new_start, hunk.new_count),
        )
        rows = self.unified
        for line in hunk.lines:
            if line == NO_NEWLINE:
                rows.append(Row(MARK, hunk.index))
                continue
            tag, text = line[:1], clean(line[1:])
            if tag == " ":
                at_old, at_new = self._side(self.old_lines, text), self._side(self.new_lines, text)
                rows.append(Row(CONTEXT, hunk.index, old_no, new_no, at_old, at_new))
                old_no, new_no = old_no + 1, new_no + 1
            elif tag == "-":
                rows.append(Row(REMOVED, hunk.index, old_no, 0, self._side(self.old_lines, text)))
                old_no += 1
            else:
                rows.append(Row(ADDED, hunk.index, 0, new_no, -1, self._side(self.new_lines, text)))
                new_no += 1
        self.max_number = max(self.max_number, old_no, new_no)

    def prelex(self, near: Iterable[Row]) -> bool:
        """Lex one chunk not yet lexed, the ones for rows ``near`` first; False when done."""
        for row in near:
            for side, at in ((self.old, row.old_at), (self.new, row.new_at)):
                if at >= 0 and side.lex_chunk(at // CHUNK):
                    return True
        for side in (self.new, self.old):
            for chunk in range(side.chunk_count):
                if side.lex_chunk(chunk):
                    return True
        return False

    def spans(self, row: Row, side: int) -> list[Span]:
        if side == OLD and row.old_at >= 0:
            return self.old.spans(row.old_at)
        if side == NEW and row.new_at >= 0:
            return self.new.spans(row.new_at)
        return []


def _first_number(start: int, count: int) -> int:
    return start if count else start + 1


def _split(unified: list[Row]) -> tuple[list[SplitRow], list[int]]:
    """Pair each run of removed lines with the added lines that follow it."""
    rows: list[SplitRow] = []
    starts: list[int] = []
    left: list[Row] = []
    right: list[Row] = []

    def flush() -> None:
        for a, b in zip_longest(left, right):
            rows.append(SplitRow((a or b).hunk, a, b))
        left.clear()
        right.clear()

    last = HEADER
    for row in unified:
        if row.kind == HEADER:
            flush()
            starts.append(len(rows))
            rows.append(SplitRow(row.hunk, None, None, header=True))
        elif row.kind == REMOVED or (row.kind == MARK and last == REMOVED):
            if right:
                flush()
            left.append(row)
        elif row.kind == ADDED or (row.kind == MARK and last == ADDED):
            right.append(row)
        else:  # context, or the no-newline mark after context
            flush()
            rows.append(SplitRow(row.hunk, row, row))
        if row.kind != MARK:
            last = row.kind
    flush()
    return rows, starts
