"""The commit gate: the model's git_commit waits here for the user's yes or no.

Shows the branch, the files, the hooks that will run (in the sandbox), the
message (editable) and the exact diff to be committed. ctrl+s commits with the
message as it stands in the box; Esc (or the button) declines and the model
is told so. Everything shown is untrusted text: no markup, controls escaped.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea

from kimitui.core.gate import AskGate
from kimitui.core.safetext import safe, safe_line
from kimitui.tools.git import CommitAnswer, CommitRequest
from kimitui.tui.guard import KeyGuard

DECLINED = "the user declined the commit"


def hooks_line(hooks: tuple[str, ...], sandbox: str) -> str:
    if not hooks:
        return "No commit hooks will run."
    where = "in the sandbox" if sandbox != "none" else "with NO sandbox on this machine"
    return f"These hooks will run, {where}: {', '.join(hooks)}"


def diff_text(diff: str) -> Text:
    """The diff coloured by line kind, never parsed as markup."""
    text = Text()
    for line in safe(diff).splitlines():
        if line.startswith(("+++", "---", "diff --git", "index ")):
            style = "bold"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        elif line.startswith("@@"):
            style = "cyan"
        else:
            style = ""
        text.append(line + "\n", style=style)
    return text


class CommitReviewScreen(ModalScreen[CommitAnswer]):
    """One commit: ctrl+s commits (with the edited message), Esc declines."""

    CSS_PATH = "commitreview.tcss"
    BINDINGS: ClassVar = [
        Binding("ctrl+s", "commit", "commit", priority=True),
        Binding("escape", "decline", "don't commit"),
    ]

    def __init__(self, request: CommitRequest) -> None:
        super().__init__()
        self.request = request
        self.key_guard = KeyGuard()  # it opens by itself: a key typed just then is no answer
        self.key_guard.hold()

    def compose(self) -> ComposeResult:
        req = self.request
        count = len(req.files)
        files = ", ".join(req.files[:8]) + (" …" if count > 8 else "")
        with Vertical(id="commit-dialog"):
            yield Static(
                safe_line(f"Commit on {req.branch or 'HEAD'}: {count} file(s): {files}"),
                id="commit-title",
                markup=False,
            )
            yield Static(
                hooks_line(req.hooks, req.sandbox),
                id="commit-hooks",
                classes="-hooks" if req.hooks else "",
                markup=False,
            )
            yield TextArea(req.message, id="commit-message", soft_wrap=True)
            with VerticalScroll(id="commit-diff"):
                yield Static(diff_text(req.diff), id="commit-diff-text", markup=False)
            with Horizontal(id="commit-buttons"):
                yield Button("Commit (ctrl+s)", id="commit", variant="success")
                yield Button("Don't commit (Esc)", id="decline", variant="error")

    def on_mount(self) -> None:
        self.query_one("#commit-diff").focus()

    @property
    def message(self) -> str:
        return self.query_one("#commit-message", TextArea).text

    def action_commit(self) -> None:
        if not self.key_guard.armed:
            return
        edited = self.message.strip()
        changed = edited and edited != self.request.message.strip()
        self.dismiss(CommitAnswer(None, edited if changed else None))

    def action_decline(self) -> None:
        self.dismiss(CommitAnswer(DECLINED))

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "commit":
            self.action_commit()
        else:
            self.action_decline()


def ask_commit(app: App, gate: AskGate) -> None:
    """Open the gate for the first waiting commit, one at a time (the app's hook)."""
    waiting = [r for r in gate.commit_reviews if not r.future.done()]
    if not waiting or any(isinstance(s, CommitReviewScreen) for s in app.screen_stack):
        return
    request = waiting[0].request

    def answered(answer: CommitAnswer | None) -> None:
        answer = answer or CommitAnswer(DECLINED)
        gate.decide_commit(request.call_id, answer.refusal, answer.message)

    app.push_screen(CommitReviewScreen(request), answered)
