"""Editing a proposal before it is applied: $EDITOR on a temp file, or an in-app editor."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static, TextArea


def external_editor() -> str | None:
    """The user's editor command from $EDITOR, if set."""
    return os.environ.get("EDITOR", "").strip() or None


def edit_in_editor(
    command: str,
    text: str,
    suffix: str,
    suspend: Callable[[], AbstractContextManager[None]] | None = None,
) -> tuple[str | None, str]:
    """Run ``command`` on a temp file holding ``text``; (new text or None, problem)."""
    fd, name = tempfile.mkstemp(prefix="kimitui-edit-", suffix=suffix or ".txt")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8", "surrogateescape"))
        with suspend() if suspend else nullcontext():
            code = _run(command, path)
        if code != 0:
            return None, f"the editor exited with status {code}; nothing was applied"
        return path.read_bytes().decode("utf-8", "surrogateescape"), ""
    except (OSError, ValueError) as exc:
        return None, f"could not run the editor {command!r}: {exc}"
    finally:
        path.unlink(missing_ok=True)


def _run(command: str, path: Path) -> int:
    # The user's own $EDITOR, started by the user's key, not by the model: no sandbox.
    return subprocess.run([*shlex.split(command), str(path)], check=False).returncode


class EditorScreen(ModalScreen[str | None]):
    """The proposed content in a TextArea: ctrl+s applies it, escape goes back."""

    BINDINGS: ClassVar = [
        Binding("ctrl+s", "save", "apply this", priority=True),
        # Priority: the TextArea would take Esc to move the focus, trapping the user here.
        Binding("escape", "cancel", "back to the diff", priority=True),
    ]

    def __init__(self, path: str, text: str) -> None:
        super().__init__()
        self.path = path
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="editor"):
            yield Static(
                f"editing the proposal for {self.path} · ctrl+s applies · esc cancels",
                id="editor-title",
                markup=False,
            )
            yield TextArea(
                self.text, id="editor-area", show_line_numbers=True, tab_behavior="indent"
            )
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_save(self) -> None:
        self.dismiss(self.query_one(TextArea).text)

    def action_cancel(self) -> None:
        """Leave without applying anything; the review shows the proposal again."""
        self.dismiss(None)
