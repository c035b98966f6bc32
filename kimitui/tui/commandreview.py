"""The gate for run_command: the command, where and how it would run, what it
would destroy; the user runs it, refuses it with feedback, or allows its prefix.

A command whose flagged paths may lie outside the project needs the word
``run`` typed, not one key: a stray ``y`` must not run ``rm -rf ~``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from kimitui.core import events as ev
from kimitui.core.allowstore import save_allowed
from kimitui.tools.confine import RunRequest

if TYPE_CHECKING:
    from kimitui.tui.host import AppHost

REFUSED = "the user said no to this command"
CONFIRM_WORD = "run"
Allow = Literal["session", "project"] | None


@dataclass(frozen=True)
class CommandAnswer:
    run: bool
    feedback: str = ""
    allow: Allow = None  # "always allow this prefix": for the session, or saved


class CommandReviewScreen(ModalScreen[CommandAnswer]):
    """One command waiting at the gate."""

    DEFAULT_CSS = """
    CommandReviewScreen { align: center middle; }
    #cmd-dialog {
        width: 100; max-width: 95%; height: auto; max-height: 90%;
        background: $surface; border: round $warning; padding: 0 1;
    }
    #cmd-dialog.outside { border: round $error; }
    #cmd-title { text-style: bold; padding: 1 0 0 0; }
    #cmd-line { padding: 1 0; }
    #cmd-where, #cmd-why, #cmd-keys { color: $text-muted; }
    #cmd-flags { padding: 1 0 0 0; }
    #cmd-keys { padding: 1 0; }
    #cmd-input { display: none; margin: 0 0 1 0; }
    #cmd-input.shown { display: block; }
    """

    BINDINGS: ClassVar = [
        Binding("y", "run", "run it"),
        Binding("n", "refuse", "no, with feedback"),
        Binding("a", "allow('session')", "always allow (session)"),
        Binding("s", "allow('project')", "always allow (save)"),
        Binding("escape", "cancel", "no"),
    ]

    def __init__(self, request: RunRequest) -> None:
        super().__init__()
        self.request = request
        self._mode: Literal["feedback", "confirm"] | None = None
        self._pending_allow: Allow = None

    @property
    def outside(self) -> bool:
        return self.request.outside

    def compose(self) -> ComposeResult:
        r = self.request
        with Vertical(id="cmd-dialog", classes="outside" if self.outside else ""):
            yield Static(self._title(), id="cmd-title", markup=False)
            yield Static(
                Syntax(r.line, "bash", word_wrap=True, background_color="default"),
                id="cmd-line",
            )
            sandbox = "NO sandbox" if r.sandbox == "none" else f"sandbox: {r.sandbox}"
            yield Static(f"in {r.cwd} · {sandbox}", id="cmd-where", markup=False)
            if r.flags:
                yield Static(self._flags(), id="cmd-flags")
            if r.why_asked:
                yield Static("asked because " + "; ".join(r.why_asked), id="cmd-why", markup=False)
            yield Static(self._keys(), id="cmd-keys", markup=False)
            # Disabled until asked for: a hidden focused field would swallow y and n.
            yield Input(id="cmd-input", disabled=True)

    def _title(self) -> str:
        if self.outside:
            return "run_command wants to run a command that may reach OUTSIDE the project"
        if self.request.flags:
            return "run_command wants to run a command that deletes or overwrites files"
        return "run_command wants to run"

    def _flags(self) -> Text:
        color = "error" if self.outside else "warning"
        style = getattr(self.app.current_theme, color, None) or "bold"
        text = Text()
        for flag in self.request.flags:
            text.append("! ", style=style)
            text.append(flag + "\n", style=style if "OUTSIDE" in flag else "")
        text.rstrip()
        return text

    def _keys(self) -> str:
        prefix = " ".join(self.request.prefix)
        allow = f" · a: always allow `{prefix}` (session) · s: … and save" if prefix else ""
        run = f"y: type {CONFIRM_WORD!r} to run" if self.outside else "y: run"
        return f"{run} · n: no, with feedback{allow} · esc: no"

    # -- keys ------------------------------------------------------------------

    def action_run(self) -> None:
        if self.outside:
            self._ask("confirm", f"type {CONFIRM_WORD} and press enter to run it")
        else:
            self.dismiss(CommandAnswer(True, allow=self._pending_allow))

    def action_refuse(self) -> None:
        self._ask("feedback", "why not? (enter sends it to the model; empty: just no)")

    def action_allow(self, where: str) -> None:
        if not self.request.prefix:
            self.notify("this command has no prefix to allow", severity="warning")
            return
        self._pending_allow = "project" if where == "project" else "session"
        self.action_run()

    def action_cancel(self) -> None:
        if self._mode is not None:
            self._mode = None
            field = self.query_one(Input)
            field.remove_class("shown")
            field.disabled = True
            return
        self.dismiss(CommandAnswer(False, REFUSED))

    def _ask(self, mode: Literal["feedback", "confirm"], placeholder: str) -> None:
        self._mode = mode
        field = self.query_one(Input)
        field.placeholder = placeholder
        field.value = ""
        field.disabled = False
        field.add_class("shown")
        field.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While typing, letters are text, not keys.
        return action == "cancel" or self._mode is None

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if self._mode == "confirm":
            if value == CONFIRM_WORD:
                self.dismiss(CommandAnswer(True, allow=self._pending_allow))
            else:
                self.notify(f"type {CONFIRM_WORD!r} exactly to run it", severity="warning")
            return
        self.dismiss(CommandAnswer(False, value or REFUSED))


def ask_command(app: AppHost, request: RunRequest, answered: Callable[[str | None], None]) -> None:
    """Show the command's review; a yes may also allow its prefix from now on."""

    def done(answer: CommandAnswer | None) -> None:
        if answer is None or not answer.run:
            answered(answer.feedback if answer is not None else REFUSED)
            return
        if answer.allow is not None and request.prefix:
            app.agent.toolbox.commands.allow_for_session(request.prefix)
            shown = " ".join(request.prefix)
            if answer.allow == "project":
                path = save_allowed(app.agent.toolbox.workspace.root, request.prefix)
                app.notify(f"`{shown}` is allowed in this project from now on (saved in {path})")
            else:
                app.notify(f"`{shown}` is allowed for the rest of this session")
        answered(None)

    app.push_screen(CommandReviewScreen(request), done)


def live_output(app: AppHost, event: ev.CommandOutputDelta) -> None:
    """A running command's output grows in its tool pane row as it arrives."""
    record = app.tools.records.get(event.id)
    if record is None or record.status not in ("running", "review"):
        return
    record.output += event.text
    app.tools.upsert(record)


BUSY_STATES = ("thinking", "tools", "review", "retrying")


def undo_step(app: AppHost) -> None:
    """The palette's "undo the last step": restore the newest checkpoint, tell the model."""
    from kimitui.core.checkpoints import CheckpointError

    store = app.agent.toolbox.checkpoints
    if store is None:
        app.notify("no checkpoints in this session", severity="warning")
        return
    if app.agent.state in BUSY_STATES:
        app.notify("wait until the step ends (or interrupt it) to undo", severity="warning")
        return
    try:
        report = store.undo()
    except CheckpointError as err:
        app.notify(str(err), severity="warning")
        return
    app.agent.note(report.model_note())
    app.notify(report.describe(), severity="warning" if report.skipped else "information")
    app.project_tree.reload()
