"""The tool-call pane: one row per call, and a screen with a call in full.

Tool names and arguments come from the model: every cell is a plain Text
(a string cell would be parsed as markup, so ``[/]`` would crash the table and
``[link=...]`` would make a link) with its controls shown as escapes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from kimitui.core.safetext import safe_line
from kimitui.tui.messages import ToolRowChosen
from kimitui.tui.safety import plain
from kimitui.tui.textview import Block, TextView

Status = Literal["running", "review", "ok", "error", "applied", "partial", "rejected"]
STATUS_TEXT: dict[Status, str] = {
    "running": "… running",
    "review": "? review",
    "ok": "✓ ok",
    "error": "✗ error",
    "applied": "✓ applied",
    "partial": "◐ partial",
    "rejected": "✗ rejected",
}
STATUS_COLOR: dict[Status, str] = {
    "running": "accent",
    "review": "warning",
    "ok": "success",
    "error": "error",
    "applied": "success",
    "partial": "warning",
    "rejected": "error",
}
# An edit's row says what the user decided, not just that the call returned.
VERDICT_STATUS: dict[str, Status] = {
    "approved": "applied",
    "partial": "partial",
    "rejected": "rejected",
}
FINISHED = frozenset({"ok", "error", "applied", "partial", "rejected"})
KEY_ARGS = ("path", "pattern", "command", "query")
FIXED = (("#", 3), ("tool", 10), ("status", 10), ("size", 6), ("time", 6))


def settled(status: Status, ok: bool, output: str) -> Status:
    """A finished call's status: an edit keeps its verdict unless the write failed."""
    if status in VERDICT_STATUS.values():
        return "error" if "NOT applied" in output else status
    return "ok" if ok else "error"


@dataclass
class ToolRecord:
    id: str
    step: int
    name: str
    arguments: Any
    status: Status = "running"
    output: str = ""
    duration: float | None = None

    @property
    def key_argument(self) -> str:
        args = self.arguments
        if isinstance(args, dict):
            for name in KEY_ARGS:
                if isinstance(args.get(name), str):
                    return args[name]
            firsts = [v for v in args.values() if isinstance(v, str | int | float)]
            return str(firsts[0]) if firsts else ""
        return str(args)

    @property
    def arguments_text(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, indent=2, ensure_ascii=False)


def size(n: int) -> str:
    return f"{n}" if n < 1000 else f"{n / 1000:.1f}k"


class ToolPane(DataTable):
    """Rows of ToolRecords; choosing a row posts ToolRowChosen."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, show_cursor=True)
        self.records: dict[str, ToolRecord] = {}
        self._arg_width = 16

    def on_mount(self) -> None:
        self._build_columns()

    def _build_columns(self) -> None:
        self.clear(columns=True)
        for label, width in FIXED[:2]:
            self.add_column(label, width=width, key=label)
        self.add_column("argument", width=self._arg_width, key="argument")
        for label, width in FIXED[2:]:
            self.add_column(label, width=width, key=label)
        for record in self.records.values():
            self.add_row(*self._cells(record), key=record.id)

    def on_resize(self, event: events.Resize) -> None:
        fixed = sum(w for _, w in FIXED) + 2 * (len(FIXED) + 1) + 2
        width = min(60, max(8, event.size.width - fixed))
        if width != self._arg_width:
            self._arg_width = width
            self._build_columns()

    def _cells(self, r: ToolRecord) -> tuple[Text, ...]:
        arg = safe_line(r.key_argument.replace("\n", " "))
        if len(arg) > self._arg_width:
            arg = arg[: self._arg_width - 1] + "…"
        color = getattr(self.app.current_theme, STATUS_COLOR[r.status], None) or ""
        status = Text(STATUS_TEXT[r.status], style=Style.parse(color) if color else "")
        done = r.status in FINISHED
        return (
            plain(str(r.step), cell=True),
            plain(r.name, cell=True),
            plain(arg, cell=True),
            status,
            # a command's output grows live
            plain(size(len(r.output)) if done or r.output else "", cell=True),
            plain(f"{r.duration:.1f}s" if done and r.duration is not None else "", cell=True),
        )

    def upsert(self, record: ToolRecord) -> None:
        self.records[record.id] = record
        cells = self._cells(record)
        if record.id in self.rows:
            for (label, _), value in zip(self._column_order(), cells, strict=True):
                self.update_cell(record.id, label, value)
        else:
            self.add_row(*cells, key=record.id)
            self.move_cursor(row=self.row_count - 1, scroll=True)

    def _column_order(self) -> list[tuple[str, int]]:
        return [*FIXED[:2], ("argument", self._arg_width), *FIXED[2:]]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(ToolRowChosen(event.row_key.value))


class ToolDetailScreen(ModalScreen[None]):
    """One tool call in full: arguments and result."""

    BINDINGS: ClassVar = [Binding("escape,q", "dismiss", "close")]

    def __init__(self, record: ToolRecord) -> None:
        super().__init__()
        self.record = record

    def compose(self) -> ComposeResult:
        r = self.record
        with Vertical(id="tool-detail"):
            yield Static(
                f"{safe_line(r.name)} · step {r.step} · {STATUS_TEXT[r.status]}",
                id="detail-title",
                markup=False,
            )
            yield TextView(id="detail-body")

    def on_mount(self) -> None:
        view = self.query_one(TextView)
        heading = Style(bold=True)
        view.add(Block("arguments", style=heading))
        view.add(Block(self.record.arguments_text or "{}"))
        view.add(Block(""))
        view.add(Block("result", style=heading))
        view.add(Block(self.record.output or "(no result yet)"))
        view.focus()
