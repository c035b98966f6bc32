"""Undo from the TUI: restore a checkpoint, asking before it overwrites the user's work.

ctrl+z restores the newest checkpoint (the project as it was before the last step that
changed it); the palette can pick any older one. Files the user changed since kimitui's
last step are listed first, each kept unless the user ticks it.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList, SelectionList, Static
from textual.widgets.option_list import Option

from kimitui.core import events as ev
from kimitui.core.checkpoints import Checkpoint, CheckpointError, Checkpoints, UndoPlan
from kimitui.core.safetext import safe

if TYPE_CHECKING:
    from kimitui.tui.host import AppHost

BUSY_STATES = ("thinking", "tools", "review", "retrying")
SHOWN_CONFLICTS = 200  # a longer list is cut; the files past it are kept as they are


def checkpoint_store(app: AppHost) -> Checkpoints | None:
    """The session's checkpoints, unless it has none or they failed (then the per-edit
    journal is the undo: it needs no git)."""
    store = app.agent.toolbox.checkpoints
    if store is None or store.broken:
        return None
    return store


def undo_checkpoint(app: AppHost, to: int | None = None) -> None:
    """Restore checkpoint ``to`` (None: the newest), asking about files changed since."""
    store = app.agent.toolbox.checkpoints
    if store is None:
        app.notify("no checkpoints in this session", severity="warning")
        return
    if app.agent.state in BUSY_STATES:
        app.notify("wait until the step ends (or interrupt it) to undo", severity="warning")
        return
    try:
        plan = store.plan(to)
    except CheckpointError as err:
        app.agent.emit(ev.Notice(str(err), "warning"))
        return
    if not plan.theirs:
        _restore(app, store, plan.point.step, ())
        return

    def chosen(overwrite: frozenset[str] | None) -> None:
        if overwrite is not None:
            _restore(app, store, plan.point.step, overwrite)

    app.push_screen(UndoConflictScreen(plan), callback=chosen)


def _restore(app: AppHost, store: Checkpoints, step: int, overwrite: Collection[str]) -> None:
    try:
        report = store.undo(step, overwrite=overwrite)
    except (CheckpointError, OSError) as err:
        app.notify(f"undo failed: {err}", severity="error")
        return
    # Through the Agent, so the saved session records the undo even if no run follows.
    app.agent.note(report.model_note())
    level = "warning" if report.skipped else "info"
    app.agent.emit(ev.Notice(report.describe(), level))
    for path in report.restored + report.removed:
        app.tracker.own_write(path)
    app.project_tree.reload()
    app.refresh_bindings()


def undo_command(app: AppHost, argument: str) -> None:
    """``/undo``: the last step (as ctrl+z); ``/undo STEP``: back to before STEP."""
    argument = argument.strip()
    if not argument:
        app.action_undo()
    elif argument.isdecimal():
        undo_checkpoint(app, int(argument))
    else:
        text = "/undo takes a step number: /undo 3 restores the project as it was before step 3"
        app.agent.emit(ev.Notice(text, "warning"))


def pick_checkpoint(app: AppHost) -> None:
    """The palette's "undo to a step…": choose any checkpoint of the session."""
    store = app.agent.toolbox.checkpoints
    if store is None or not store.checkpoints:
        app.notify("no checkpoints in this session yet", severity="warning")
        return

    def picked(step: int | None) -> None:
        if step is not None:
            undo_checkpoint(app, step)

    app.push_screen(CheckpointPickerScreen(store.summary()), callback=picked)


class UndoConflictScreen(ModalScreen[frozenset[str] | None]):
    """Undo would overwrite files changed since kimitui's last step: choose each one."""

    BINDINGS: ClassVar = [
        Binding("escape", "cancel", "cancel undo"),
        Binding("ctrl+a", "all", "tick all"),
        Binding("ctrl+s", "confirm", "undo"),
    ]

    def __init__(self, plan: UndoPlan) -> None:
        super().__init__()
        self.plan = plan

    def compose(self) -> ComposeResult:
        shown = self.plan.theirs[:SHOWN_CONFLICTS]
        more = len(self.plan.theirs) - len(shown)
        with Vertical(id="undo-dialog"):
            yield Static(
                f"Undo to before step {self.plan.point.step}: "
                f"{len(self.plan.theirs)} file(s) changed since kimitui's last step",
                id="undo-title",
                markup=False,
            )
            note = (
                "Ticked files go back to the checkpoint and lose those changes; "
                "the others stay as they are. Space ticks, ctrl+a ticks all."
            )
            if more:
                note += f" {more} more not listed are kept."
            yield Static(note, id="undo-note", markup=False)
            yield SelectionList[str](
                *((Content(safe(path)), path, False) for path in shown), id="undo-files"
            )
            with Horizontal(id="undo-buttons"):
                yield Button("Undo (ctrl+s)", id="undo-go", variant="warning")
                yield Button("Cancel (Esc)", id="undo-cancel", variant="primary")

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    def action_all(self) -> None:
        self.query_one(SelectionList).select_all()

    def action_confirm(self) -> None:
        self.dismiss(frozenset(self.query_one(SelectionList).selected))

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "undo-go":
            self.action_confirm()
        else:
            self.action_cancel()


class CheckpointPickerScreen(ModalScreen[int | None]):
    """Every checkpoint of the session, newest first; Enter restores the chosen one."""

    BINDINGS: ClassVar = [Binding("escape", "cancel", "cancel")]

    def __init__(self, rows: list[tuple[Checkpoint, int]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(id="undo-dialog"):
            yield Static("Undo to before which step?", id="undo-title", markup=False)
            newest_first = self.rows[::-1]
            options = (Option(_row(point, n), id=str(point.step)) for point, n in newest_first)
            yield OptionList(*options, id="undo-steps")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id or 0))

    def action_cancel(self) -> None:
        self.dismiss(None)


def _row(point: Checkpoint, changed: int) -> Content:
    at = time.strftime("%H:%M:%S", time.localtime(point.at))
    return Content(f"before step {point.step} · {at} · {changed} file(s) changed after it")
