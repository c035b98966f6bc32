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
from kimitui.tools.testrun import RunRequest
from kimitui.tui.guard import KeyGuard

REFUSED = "the user declined to run it without a sandbox"


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
        self.key_guard = KeyGuard()  # it opens by itself: a key typed just then is no answer
        self.key_guard.hold()

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


class RunApprovalScreen(ModalScreen[str | None]):
    """No sandbox on this machine: the user says yes or no to one run."""

    BINDINGS: ClassVar = [
        Binding("y", "choose(True)", "run it"),
        Binding("n,escape", "choose(False)", "don't run"),
    ]

    def __init__(self, request: RunRequest) -> None:
        super().__init__()
        self.request = request
        self.key_guard = KeyGuard()  # it opens by itself: a key typed just then is no answer
        self.key_guard.hold()

    def compose(self) -> ComposeResult:
        command = " ".join(self.request.command)
        with Vertical(id="run-dialog"):
            yield Static(
                f"{self.request.tool} wants to run a program with NO sandbox",
                id="run-title",
                markup=False,
            )
            yield Static(safe(f"$ {command}"), id="run-command", markup=False)
            yield Static(
                f"in {safe(self.request.cwd)}\nIt could change any file you can. "
                "`kimitui doctor` says why there is no sandbox.",
                id="run-where",
                markup=False,
            )
            with Horizontal(id="run-buttons"):
                yield Button("Run it (y)", id="run", variant="warning")
                yield Button("Don't run (n)", id="skip", variant="primary")

    def action_choose(self, run: bool) -> None:
        self.dismiss(None if run else REFUSED)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.action_choose(event.button.id == "run")


class QuitScreen(ModalScreen[bool]):
    """ctrl+q while an edit waits for review: say what is left undone before quitting."""

    BINDINGS: ClassVar = [Binding("escape", "choose(False)", "stay")]

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-dialog"):
            yield Static("Quit with an edit waiting?", id="quit-title", markup=False)
            yield Static(
                f"The edit to {self.path} waits for your review. Quitting leaves it "
                "unapplied; --resume brings the session back.\n"
                "ctrl+q quits · Esc stays",
                id="quit-reason",
                markup=False,
            )
            with Horizontal(id="quit-buttons"):
                yield Button("Quit (ctrl+q)", id="quit", variant="error")
                yield Button("Stay (Esc)", id="stay", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#stay", Button).focus()

    def action_choose(self, quit_now: bool) -> None:
        self.dismiss(quit_now)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "quit")
