"""The header line: project, model, approval policy, and what the loop is doing."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from kimitui.core.safetext import safe_line

STATE_LABELS: dict[str, str] = {
    "idle": "ready",
    "thinking": "thinking",
    "tools": "calling tools",
    "review": "awaiting review",
    "paused": "paused",
    "waiting": "interrupted · waiting for you",
    "retrying": "retrying",
    "done": "done",
    "error": "error",
    "budget": "budget used up",
    "pausing": "pausing before next step",
}


class StatusBar(Horizontal):
    """One line at the top; the state label carries a class per state for colour."""

    def __init__(
        self, project: str, model: str, approval: str, *, sandbox: str, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        # The project's folder name and the model's name are not ours to trust.
        self._project = safe_line(project)
        self._head = f" kimitui · {self._project} · {safe_line(model)}"
        self._sandbox = f"sandbox: {sandbox}"
        self._approval = approval
        self._git = ""
        self._left = self._left_text()

    def _left_text(self) -> str:
        left = f"{self._head} · approve: {self._approval} · {self._sandbox}"
        return f"{left} · {self._git}" if self._git else left

    def compose(self) -> ComposeResult:
        yield Static(self._left, id="status-left", markup=False)
        yield Static("", id="status-step", markup=False)
        yield Static("", id="status-state", markup=False)

    def set_approval(self, approval: str) -> None:
        """The approval mode changed (the session's auto-approve toggle)."""
        self._approval = approval
        self._left = self._left_text()
        self.query_one("#status-left", Static).update(self._left)

    def set_model(self, model: str) -> None:
        """The session switched model (/model NAME)."""
        self._head = f" kimitui · {self._project} · {safe_line(model)}"
        self._left = self._left_text()
        self.query_one("#status-left", Static).update(self._left)

    def set_git(self, branch: str, dirty: int) -> None:
        """The work tree's branch (or detached commit) and how many paths changed."""
        if not branch:
            return
        # A branch name is the repository's text, not ours to trust.
        self._git = f"git: {safe_line(branch)}" + (f" +{dirty}" if dirty else " clean")
        self._left = self._left_text()
        self.query_one("#status-left", Static).update(self._left)

    def show(self, state: str, step: int) -> None:
        label = self.query_one("#status-state", Static)
        label.update(f" ● {STATE_LABELS.get(state, state)} ")
        for name in STATE_LABELS:
            label.set_class(name == state, f"-{name}")
        self.query_one("#status-step", Static).update(f"step {step} " if step else "")
