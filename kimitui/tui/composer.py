"""The composer: the task, steering messages, follow-ups; pending ones above it."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from kimitui.tui.messages import ComposerSubmitted, PendingRecalled

# Single keys the app binds that an empty composer lets through (p pause, + raise, u undo).
SHORTCUT_CHARS = frozenset("p+u")


class ComposerInput(Input):
    """An Input that gives up single-key shortcuts while it is empty."""

    def __init__(self, shortcut_active: Callable[[str], bool], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._shortcut_active = shortcut_active

    def check_consume_key(self, key: str, character: str | None) -> bool:
        if not self.value and character in SHORTCUT_CHARS and self._shortcut_active(character):
            return False
        return super().check_consume_key(key, character)


class Composer(Vertical):
    """Shows undelivered messages and takes new ones."""

    BINDINGS: ClassVar = [Binding("up", "recall", "edit pending", show=False)]

    def __init__(self, shortcut_active: Callable[[str], bool], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shortcut_active = shortcut_active
        self.pending: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(id="pending", markup=False)
        yield ComposerInput(self._shortcut_active, id="composer-input", select_on_focus=False)

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
