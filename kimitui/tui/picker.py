"""The session picker: ``kimitui --resume`` with no id lists the project's sessions.

A small app of its own, run before the main one: the session chosen decides
the project, model, endpoint and session id the main app is built with.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Static

from kimitui.core.catalog import SessionSummary
from kimitui.core.safetext import safe_line
from kimitui.tui.safety import plain
from kimitui.tui.themes import DEFAULT_THEME, VARIABLE_DEFAULTS, load_themes

COLUMNS = ("started", "steps", "tokens", "cost", "ended", "task")
OTHER_COLUMNS_WIDTH = 64  # all but the task, with the table's cell padding


class SessionPicker(App[str | None]):
    """Enter resumes the highlighted session; Esc leaves without resuming any."""

    CSS_PATH = "picker.tcss"
    TITLE = "kimitui · resume a session"
    BINDINGS: ClassVar = [
        Binding("enter", "pick", "resume", priority=True),
        Binding("escape,q", "cancel", "cancel"),
    ]

    def __init__(
        self, sessions: list[SessionSummary], where: str, theme_name: str | None = None
    ) -> None:
        super().__init__()
        self.sessions = {s.id: s for s in sessions}
        self.where = where
        for theme in load_themes().themes:
            self.register_theme(theme)
        wanted = theme_name or DEFAULT_THEME
        self.theme = wanted if wanted in self.available_themes else DEFAULT_THEME

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return {**super().get_theme_variable_defaults(), **VARIABLE_DEFAULTS}

    def compose(self) -> ComposeResult:
        count = len(self.sessions)
        yield Static(
            f"{count} saved session(s) for {safe_line(self.where)}, newest first",
            id="picker-title",
            markup=False,
        )
        yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
        yield Static(id="picker-detail", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        task_width = max(20, self.size.width - OTHER_COLUMNS_WIDTH)
        for summary in self.sessions.values():
            table.add_row(*_cells(summary, task_width), key=summary.id)
        table.focus()
        self._show_detail(next(iter(self.sessions), None))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail(event.row_key.value)

    def action_pick(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
            self.exit(key.value)

    def action_cancel(self) -> None:
        self.exit(None)

    def _show_detail(self, session_id: str | None) -> None:
        summary = self.sessions.get(session_id or "")
        detail = self.query_one("#picker-detail", Static)
        if summary is None:
            detail.update("")
            return
        detail.update(
            f"{safe_line(summary.id)}  ·  {safe_line(summary.project)}\n"
            f"task: {safe_line(summary.task or '(none yet)')}\n"
            f"ended: {_ending(summary.ended)}"
        )


def _cells(s: SessionSummary, task_width: int) -> tuple[Text, ...]:
    """Plain cells: a saved task is text, never markup (``[/]`` must not crash the table)."""
    cost = "—" if s.cost is None else f"${s.cost:.4f}"
    tokens = f"{s.tokens:,}"
    cells = (s.started_local, str(s.steps), tokens, cost, s.ended, s.task_within(task_width))
    return tuple(plain(cell, cell=True) for cell in cells)


def _ending(ended: str) -> str:
    if ended == "unfinished":
        return "unfinished (stopped mid-run): resuming continues where it stopped"
    return f"{ended}: resuming lets you give a follow-up task"


def pick_session(
    sessions: list[SessionSummary], where: Path | str, theme: str | None
) -> str | None:
    """Run the picker; the chosen session's id, or None when the user left."""
    return SessionPicker(sessions, str(where), theme).run()
