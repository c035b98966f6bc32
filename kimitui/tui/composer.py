"""The composer: the task, steering messages, follow-ups; pending ones above it."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from kimitui.tui.messages import ComposerSubmitted, PendingRecalled


class ComposerInput(Input):
    """The message line. It keeps every printable key: single-letter shortcuts
    (p, u, +, ?) apply only when the focus is elsewhere (Tab leaves the composer)."""


class Composer(Vertical):
    """Shows undelivered messages and takes new ones."""

    BINDINGS: ClassVar = [Binding("up", "recall", "edit pending", show=False)]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.pending: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(id="pending", markup=False)
        yield ComposerInput(id="composer-input", select_on_focus=False)

    @property
    def input(self) -> ComposerInput:
        return self.query_one(ComposerInput)

    def show_pending(self, pending: list[str]) -> None:
        self.pending = list(pending)
        label = self.query_one("#pending", Static)
        label.display = bool(pending)
        if pending:
            shown = " · ".join(f"“{p}”" for p in pending)
            label.update(f"pending: {shown}  (↑ edit, ctrl+x cancel)")

    @on(Input.Submitted, "#composer-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if text:
            self.input.value = ""
            self.post_message(ComposerSubmitted(text))

    def action_recall(self) -> None:
        if self.pending and not self.input.value:
            self.post_message(PendingRecalled(self.pending[-1]))
