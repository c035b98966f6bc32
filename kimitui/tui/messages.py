"""Messages the TUI's widgets post; the App handles them and drives the Agent."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from textual.message import Message

from kimitui.tools.edits import Decision


@dataclass
class ComposerSubmitted(Message):
    """The user pressed Enter in the composer with some text."""

    text: str


@dataclass
class PathsWanted(Message):
    """The composer needs the project's file list for @ completion."""


@dataclass
class PendingRecalled(Message):
    """The user took a pending (undelivered) message back to edit or drop it."""

    text: str


@dataclass
class ToolRowChosen(Message):
    """A row of the tool-call pane was chosen: show the call in full."""

    call_id: str


@dataclass
class FilesChanged(Message):
    """Paths (relative, posix) changed on disk; ``outside`` ones were not kimitui's."""

    changed: set[str] = field(default_factory=set)
    outside: set[str] = field(default_factory=set)
    structure: bool = False

    def can_replace(self, message: Message) -> bool:
        return False


@dataclass
class FileChosen(Message):
    """A file in the project tree was chosen for preview."""

    path: Path


@dataclass
class WatchProblem(Message):
    """The file watcher fell back or stopped; say so once."""

    text: str


@dataclass
class ReviewsChanged(Message):
    """The gate's pending reviews changed: open, update or close the review view."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ReviewsChanged)


@dataclass
class ReviewDecided(Message):
    """The user decided on the pending edit ``edit_id``."""

    edit_id: str
    decision: Decision
    whole_turn: bool = False  # `a`: and approve the rest of this turn
