"""The composer's completion list: ``@path`` mentions and ``/`` commands.

What is being completed is read from the text before the cursor; the list
shows the best choices above the message box. The focus never leaves the box:
the box hands it ↑/↓, Tab, Enter and Esc while the list is open.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from kimitui.core.safetext import safe_line
from kimitui.tui.mentions import SHOWN, PathIndex, mention_text, score

Location = tuple[int, int]  # (row, column) in the message box
AT_TOKEN = re.compile(r"(?:^|(?<=\s))@([^\s\"]*)$")  # "@" and what follows, up to the cursor
SLASH_TOKEN = re.compile(r"/([\w-]*)")


@dataclass(frozen=True)
class Context:
    """The token under completion: its kind ("@" or "/"), the text typed after
    the sign, and where it starts and ends (the cursor)."""

    kind: str
    query: str
    start: Location
    end: Location


@dataclass(frozen=True)
class Choice:
    """One row: ``value`` replaces the token; ``submit``: Enter also sends it."""

    value: str
    label: str
    detail: str = ""
    submit: bool = False


@dataclass(frozen=True)
class CommandInfo:
    """What the composer knows of a slash command (the App passes them in)."""

    name: str
    usage: str
    help: str
    takes_argument: bool


def context_at(line: str, row: int, column: int) -> Context | None:
    """What the text before the cursor asks to complete, if anything."""
    before = line[:column]
    if row == 0 and (slash := SLASH_TOKEN.fullmatch(before)):
        return Context("/", slash[1], (0, 0), (0, column))
    if at := AT_TOKEN.search(before):
        return Context("@", at[1], (row, at.start()), (row, column))
    return None


def path_choices(query: str, paths: PathIndex) -> list[Choice]:
    return [Choice(mention_text(p) + " ", p) for p in paths.rank(query)]


def command_choices(query: str, commands: Sequence[CommandInfo]) -> list[Choice]:
    """Commands whose name starts with ``query`` first, then fuzzy matches."""
    q = query.casefold()
    first = [c for c in commands if c.name.startswith(q)]
    scored = [(s, c) for c in commands if c not in first and (s := score(q, c.name)) is not None]
    ordered = first + [c for _, c in sorted(scored, key=lambda item: -item[0])]
    return [
        Choice(f"/{c.name} ", c.usage, c.help, submit=not c.takes_argument) for c in ordered[:SHOWN]
    ]


class CompletionList(OptionList):
    """The choices for the token under the cursor; never focused (keys come from the box)."""

    can_focus = False

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False, compact=True)
        self.choices: list[Choice] = []
        self.display = False

    def show(self, choices: list[Choice]) -> None:
        self.choices = choices
        self.set_options(self._row(c) for c in choices)
        self.display = bool(choices)
        if choices:
            self.highlighted = 0

    def hide(self) -> None:
        self.display = False
        self.choices = []

    @property
    def is_open(self) -> bool:
        return self.display and bool(self.choices)

    def move(self, delta: int) -> None:
        if self.choices:
            self.highlighted = ((self.highlighted or 0) + delta) % len(self.choices)

    @property
    def current(self) -> Choice | None:
        index = self.highlighted
        return self.choices[index] if self.choices and index is not None else None

    @staticmethod
    def _row(choice: Choice) -> Option:
        # File names and help texts are shown as they are, never read as markup.
        row = Text(safe_line(choice.label), style="bold")
        if choice.detail:
            row.append("  " + safe_line(choice.detail), style="dim")
        row.no_wrap = True
        row.overflow = "ellipsis"
        return Option(row)
