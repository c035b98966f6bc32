"""The undo journal: every edit kimitui applied, with the file before and after.

One JSONL file per session in the user state dir (``$KIMITUI_STATE_DIR``
overrides it), mode 0600, append-only: an ``apply`` line per write and an
``undo`` line per revert. An edit is reverted only while the file still holds
exactly what kimitui wrote, so an undo never clobbers anyone's later work.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kimitui.core.statedir import FILE_MODE, make_private_dirs, state_dir
from kimitui.tools.edits import ProposedEdit, count_changes, make_hunks
from kimitui.tools.workspace import SandboxError, Workspace


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    path: str
    tool: str
    call_id: str
    before: str | None  # None: the edit created the file
    after: str
    at: float


@dataclass(frozen=True)
class UndoResult:
    ok: bool
    message: str  # for the user
    entry: JournalEntry | None = None
    note: str = ""  # for the model, delivered before its next step


class Journal:
    """Applied edits of one session, newest last; :meth:`undo` walks back."""

    def __init__(self, file: Path, project: str = "") -> None:
        self.file = file
        self.project = project
        self.entries: list[JournalEntry] = []
        self.undone: set[int] = set()
        self._load()

    @classmethod
    def for_session(
        cls, session_id: str, project: str = "", directory: Path | None = None
    ) -> Journal:
        base = directory if directory is not None else state_dir()
        return cls(base / "journal" / f"{session_id}.jsonl", project)

    # -- disk ------------------------------------------------------------

    def _load(self) -> None:
        try:
            lines = self.file.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        for line in lines:
            try:
                record = json.loads(line)
                if record.get("op") == "apply":
                    fields = {k: record[k] for k in JournalEntry.__dataclass_fields__}
                    self.entries.append(JournalEntry(**fields))
                elif record.get("op") == "undo":
                    self.undone.add(int(record["seq"]))
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
                continue  # a line cut by a crash, or damaged: the others still count

    def _append(self, record: dict[str, Any]) -> None:
        make_private_dirs(self.file.parent)
        fd = os.open(self.file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    # -- recording ---------------------------------------------------------

    def record(self, edit: ProposedEdit, before: str | None, after: str) -> JournalEntry:
        """Journal one applied edit (an ``apply_decision`` write hook)."""
        seq = self.entries[-1].seq + 1 if self.entries else 1
        entry = JournalEntry(seq, edit.path, edit.tool, edit.id, before, after, time.time())
        self._append({"op": "apply", "project": self.project, **asdict(entry)})
        self.entries.append(entry)
        return entry

    @property
    def undoable(self) -> list[JournalEntry]:
        return [e for e in self.entries if e.seq not in self.undone]

    @property
    def last(self) -> JournalEntry | None:
        left = self.undoable
        return left[-1] if left else None

    # -- undo ----------------------------------------------------------------

    def undo(self, workspace: Workspace) -> UndoResult:
        """Revert the newest applied edit not yet undone, if the file is still ours."""
        entry = self.last
        if entry is None:
            return UndoResult(False, "nothing to undo: no applied edit of this session is left")
        try:
            current = workspace.read_text(entry.path)
            if current != entry.after:
                return UndoResult(False, _why_not(entry, current), entry)
            _restore(workspace, entry)
        except (SandboxError, OSError) as exc:
            return UndoResult(False, f"cannot undo the edit to {entry.path}: {exc}", entry)
        self.undone.add(entry.seq)
        self._append({"op": "undo", "seq": entry.seq, "at": time.time()})
        workspace.read_paths.discard(entry.path)  # what the model read is stale now
        return UndoResult(True, _done_message(entry), entry, model_note(entry))


def _restore(workspace: Workspace, entry: JournalEntry) -> None:
    if entry.before is None:
        workspace.check_writable(entry.path).unlink()
    else:
        workspace.write_atomic(entry.path, entry.before)


def _why_not(entry: JournalEntry, current: str | None) -> str:
    state = "was deleted" if current is None else "has changed"
    return (
        f"cannot undo the {entry.tool} edit to {entry.path}: the file {state} since kimitui "
        "wrote it (edited outside kimitui or by a later step), so it was left as it is"
    )


def _done_message(entry: JournalEntry) -> str:
    if entry.before is None:
        return f"undone: deleted {entry.path}, which the {entry.tool} edit had created"
    added, removed = count_changes(make_hunks(entry.before, entry.after))
    return f"undone: the {entry.tool} edit to {entry.path} (+{added} -{removed}) was reverted"


def model_note(entry: JournalEntry) -> str:
    """What the model is told of an undo, before its next step."""
    if entry.before is None:
        what = f"{entry.path} was deleted again (your edit had created it)"
    else:
        what = f"{entry.path} is back to its content before that edit"
    return (
        f"Note from kimitui: the user undid your {entry.tool} edit to {entry.path} "
        f"(tool call {entry.call_id}); {what}. Read the file again before editing it."
    )
