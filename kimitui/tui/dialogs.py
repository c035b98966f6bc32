"""Small modal questions the engine asks through the TUI."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from kimitui.core.safetext import safe


class WaitOrStopScreen(ModalScreen[bool]):
    """The server asks for a long wait before the next attempt: wait, or stop the run."""

    BINDINGS: ClassVar = [
        Binding("w", "choose(True)", "wait"),
        Binding("s,escape", "choose(False)", "stop"),
    ]

    def __init__(self, wait_s: float, reason: str) -> None:
        super().__init__()
        self.wait_s = wait_s
        self.reason = reason

    def compose(self) -> ComposeResult:
        with Vertical(id="wait-dialog"):
            yield Static(
                f"The server asks kimitui to wait {self.wait_s:.0f} s before trying again.",
                id="wait-title",
                markup=False,
            )
            yield Static(safe(self.reason), id="wait-reason", markup=False)
            with Horizontal(id="wait-buttons"):
                yield Button(f"Wait {self.wait_s:.0f} s (w)", id="wait", variant="primary")
                yield Button("Stop the run (s)", id="stop", variant="error")

    def action_choose(self, wait: bool) -> None:
        self.dismiss(wait)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "wait")
