"""Preview of a project file with syntax highlighting (read-only)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from kimitui.core.safetext import safe, safe_line

MAX_BYTES = 512_000
MAX_LINES = 3000


def load_preview(path: Path) -> str | Syntax:
    """The file as highlighted code, or a sentence saying why it is not shown."""
    try:
        data = path.read_bytes()[: MAX_BYTES + 1]
    except OSError as err:
        return safe_line(f"cannot read {path.name}: {err.strerror or err}")
    if b"\x00" in data[:8192]:
        return f"{safe_line(path.name)} looks binary; not shown"
    # A file may hold escape sequences: they are shown, never sent to the terminal.
    text = safe(data[:MAX_BYTES].decode("utf-8", "replace"))
    lines = text.splitlines()
    note = ""
    if len(lines) > MAX_LINES or len(data) > MAX_BYTES:
        lines, note = lines[:MAX_LINES], f"\n… preview cut at {len(lines[:MAX_LINES])} lines"
    lexer = Syntax.guess_lexer(path.name, code=text[:2000])
    return Syntax(
        "\n".join(lines) + note, lexer, line_numbers=True, word_wrap=False, theme="ansi_dark"
    )


class FilePreviewScreen(ModalScreen[None]):
    BINDINGS: ClassVar = [Binding("escape,q", "dismiss", "close")]

    def __init__(self, path: Path, rel: str) -> None:
        super().__init__()
        self.path = path
        self.rel = rel

    def compose(self) -> ComposeResult:
        with Vertical(id="preview"):
            yield Static(safe_line(self.rel), id="preview-title", markup=False)
            with VerticalScroll(id="preview-body"):
                yield Static(load_preview(self.path), markup=False)

    def on_mount(self) -> None:
        self.query_one("#preview-body").focus()
