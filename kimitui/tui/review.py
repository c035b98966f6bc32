"""The review view: one pending edit as a diff, decided as a whole or hunk by hunk.

It shows the gate's current pending edit and posts :class:`ReviewDecided`;
the App resolves the gate. While it is open it watches the file on disk and
re-diffs when it changes (see :mod:`kimitui.tui.reviewstate`).

Keys typed as it opens decide nothing: a review that opened by itself holds
its keys for a moment (see :mod:`kimitui.tui.guard`), and every new edit of the
turn does the same, so a double-tapped ``y`` never approves an edit unseen.
ctrl+g steps behind the review to the conversation (thinking, transcript, tree)
and back; the hunks chosen so far are kept.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from kimitui.core.gate import AskGate, Review
from kimitui.core.safetext import safe, safe_line
from kimitui.tools.edits import Decision, count_changes
from kimitui.tools.workspace import Workspace
from kimitui.tui.diffview import DiffView
from kimitui.tui.editor import EditorScreen, edit_in_editor, external_editor
from kimitui.tui.footer import WrappingFooter
from kimitui.tui.guard import KeyGuard
from kimitui.tui.messages import ReviewDecided
from kimitui.tui.reviewstate import ReviewState

WIDE = 160  # columns from which the diff opens side by side
MINUS = "\u2212"
POLL_S = 0.3  # how often the file under review is checked on disk
CLOSE_AFTER_S = 0.3  # grace for the next edit of the same turn before closing
MARKS = {
    "pending": "·",
    "approved": "✓",
    "auto": "✓",
    "partial": "◐",
    "rejected": "✗",
    "cancelled": "-",
}


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


BEHIND = "behind"  # the result when the user steps behind the review


class ReviewScreen(ModalScreen[str | None]):
    """Path, kind, counts, flags and the diff of the gate's current edit."""

    BINDINGS: ClassVar = [
        Binding("y", "apply", "apply"),
        Binding("n", "reject", "reject"),
        Binding("o", "overwrite", "overwrite"),
        Binding("e", "edit", "edit"),
        Binding("a", "approve_turn", "approve turn"),
        Binding("s", "toggle_split", "split"),
        Binding("escape", "back", "back", show=False),
    ]

    def __init__(
        self,
        gate: AskGate,
        workspace: Workspace,
        *,
        guarded: bool = True,
        kept: dict[str, set[int]] | None = None,
    ) -> None:
        super().__init__()
        self.gate = gate
        self.workspace = workspace
        self.key_guard = KeyGuard()
        self._guard_first = guarded  # opened by itself (not by ctrl+g): hold the first keys
        # Hunk choices of edits the user stepped away from, by edit id (owned by the App).
        self.kept = kept if kept is not None else {}
        self._restore: set[int] | None = None
        self._decided: str | None = None  # the edit a decision was posted for
        self.leaving = False
        self._rehold_pending = False
        self.first_hold = guarded  # holding keys as it opened over the conversation
        if guarded:
            self.key_guard.hold()  # from the moment it is pushed, not only once mounted
        self.review: Review | None = None
        self.state: ReviewState | None = None
        self._shown: object = None  # the proposal the diff shows
        self._signature: tuple[int, int, int] | None = None
        self._split_chosen: bool | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="review"):
            yield Static(id="review-title", markup=False)
            yield Static(id="review-turn", markup=False)
            yield Static(id="review-banner", markup=False)
            yield DiffView(id="review-diff")
            yield Static(id="review-refused", markup=False)
            yield Input(
                placeholder="Why? One line for the model (optional). Enter rejects, esc goes back",
                id="review-feedback",
            )
        yield WrappingFooter(compact=True)  # every key stays visible at 60 columns

    @property
    def diff(self) -> DiffView:
        return self.query_one(DiffView)

    @property
    def feedback(self) -> Input:
        return self.query_one("#review-feedback", Input)

    def on_mount(self) -> None:
        self.feedback.display = False
        self.set_interval(POLL_S, self._poll_disk, name="review-disk-poll")
        self.sync()

    # -- following the gate ----------------------------------------------------

    def sync(self) -> None:
        """Show the gate's current pending edit; close when none is left."""
        current = self.gate.current
        if current is None:
            self.review = None
            self._render_turn()
            self.refresh_bindings()
            self.set_timer(CLOSE_AFTER_S, self._close_if_idle, name="review-close")
            return
        if self.review is None or current.edit.id != self.review.edit.id:
            self._load(current)
        else:
            self._render_turn()

    def _close_if_idle(self) -> None:
        idle = self.gate.current is None and not self.leaving
        if idle and self.is_attached and self.app.screen is self:
            self.leaving = True
            self.dismiss(None)

    def _load(self, review: Review) -> None:
        first = self.review is None and self.state is None
        self.first_hold = self._guard_first and first
        if self._guard_first or not first:
            self._hold_keys()
            # Counted again from when the edit is on screen: a busy app may paint it late.
            self._rehold_pending = True
            self.call_after_refresh(self._rehold)
        self.review = review
        self._decided = None
        self._restore = self.kept.pop(review.edit.id, None)
        self.state = ReviewState.of(review.edit)
        self._signature = _signature(self._file)
        self.state.recheck(self.workspace)
        self.feedback.display = False
        self._render_all()
        if not self.state.refused:
            self.diff.focus()

    @property
    def _file(self) -> Path:
        path = self.review.edit.path if self.review else "."
        return self.workspace.root / path

    def _hold_keys(self) -> None:
        if not self.is_attached or self.leaving:
            return
        seconds = self.key_guard.hold()
        self.refresh_bindings()
        self.set_timer(seconds, self._armed, name="review-key-guard")

    def _rehold(self) -> None:
        if self._rehold_pending:
            self._rehold_pending = False
            self._hold_keys()

    @property
    def takes_keys(self) -> bool:
        """The edit is on screen and the moment after it opened has passed."""
        return not self._rehold_pending and self.key_guard.armed

    def _armed(self) -> None:
        if self.key_guard.armed and self.is_attached:
            self.refresh_bindings()

    def arm(self) -> None:
        """Take keys now (the user asked for the review)."""
        self._rehold_pending = False
        self.key_guard.release()
        self.refresh_bindings()

    def _poll_disk(self) -> None:
        if self.state is None or self.review is None or self.leaving:
            return  # nothing under review (decided, waiting for the next edit)
        if self._decided == self.review.edit.id:
            return  # our own write is landing: not a change made under the review
        signature = _signature(self._file)
        if signature == self._signature:
            return
        self._signature = signature
        if self.state.recheck(self.workspace):
            self._render_all()

    # -- rendering ---------------------------------------------------------------

    def _render_all(self) -> None:
        state = self.state
        if state is None:
            return
        if state.proposal is not self._shown:
            self._shown = state.proposal
            keep = self._restore if state.proposal is state.original else None
            self._restore = None
            self.diff.show(state.proposal.hunks, state.proposal.path, keep)
        refused = bool(state.refused)
        self.diff.display = not refused
        if refused and self.diff.has_focus:
            self.set_focus(None)  # no hunk keys without a diff
        refusal = self.query_one("#review-refused", Static)
        refusal.display = refused
        refusal.update(safe(state.refused))
        self._render_title()
        self._render_banner()
        self._render_turn()
        self.refresh_bindings()

    def _render_title(self) -> None:
        state = self.state
        if state is None:
            return
        edit = state.proposal
        kind = "new file" if edit.is_new_file else "modified"
        chosen = [h for h in edit.hunks if h.index in self.diff.selected]
        added, removed = count_changes(chosen)
        hunks = f"{len(chosen)}/{len(edit.hunks)} hunks" if not state.refused else "whole file"
        text = f" review · {safe_line(edit.path)} · {kind} · +{added} {MINUS}{removed} · {hunks}"
        self.query_one("#review-title", Static).update(text)

    def _render_banner(self) -> None:
        state = self.state
        lines: list[str] = []
        if state is not None:
            if state.message:
                lines.append(f"! {safe(state.message)}")
            if state.original.unread_overwrite:
                path = safe_line(state.original.path)
                lines.append(f"! the model replaces {path} whole without having read it")
        banner = self.query_one("#review-banner", Static)
        banner.display = bool(lines)
        banner.update("\n".join(lines))
        banner.set_class(bool(state and state.conflict == "overwrite"), "-conflict")

    def _render_turn(self) -> None:
        items = []
        for item in self.gate.turn_reviews:
            current = self.review is not None and item is self.review
            mark = "▸" if current else MARKS.get(item.status, "·")
            items.append(f"{mark} {safe_line(Path(item.edit.path).name)}")
        more = self.gate.still_to_come
        if more:
            items.append(f"{more} more coming")
        if self.review is None:
            items.append("waiting for the next edit…")
        mode = "auto" if self.gate.auto_approve else "ask"
        keys = f"approve: {mode} (ctrl+t)  ·  ctrl+g: look behind"
        line = f" this turn: {'  '.join(items)}  ·  {keys}"
        self.query_one("#review-turn", Static).update(line)

    def on_resize(self) -> None:
        if self._split_chosen is None:
            self.diff.set_side_by_side(self.size.width >= WIDE)

    @on(DiffView.Changed)
    def _selection_changed(self) -> None:
        self._render_title()

    # -- keys ------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        state = self.state if self.review is not None else None
        if action in ("back", "toggle_split"):
            return True
        if action in self._decisions and not self.key_guard.armed:
            return None  # greyed for the moment after the review opened
        if state is None:
            return None if action in self._decisions else True
        rules = {
            "apply": state.can_apply,
            "overwrite": state.can_overwrite,
            "edit": not state.refused and not state.broken,
            "approve_turn": state.can_apply,
            "reject": True,
        }
        allowed = rules.get(action, True)
        if action == "overwrite":
            return allowed  # hidden unless the file changed under the review
        return True if allowed else None

    _decisions = frozenset({"apply", "overwrite", "edit", "approve_turn", "reject"})

    def _decide(self, decision: Decision, *, whole_turn: bool = False) -> None:
        if self.review is None or self._decided == self.review.edit.id:
            return
        self._decided = self.review.edit.id
        self.post_message(ReviewDecided(self.review.edit.id, decision, whole_turn))

    def _still_current(self) -> bool:
        """Re-read the disk right before deciding; False (and re-diffed) if it moved."""
        if self.state is None:
            return False
        self._signature = _signature(self._file)
        if self.state.recheck(self.workspace):
            self._render_all()
            self.app.notify("the file changed on disk just now: review the new diff", timeout=4)
            return False
        return True

    def _selection(self) -> Decision:
        assert self.state is not None
        if self.state.refused:
            return self.state.decide(Decision.approve_all(self.state.proposal))
        return self.state.selection(self.diff.selected)

    def action_apply(self) -> None:
        if self._still_current():
            self._decide(self._selection())

    def action_overwrite(self) -> None:
        if self.state is not None and self.state.can_overwrite and self._still_current():
            self._decide(self._selection())

    def action_approve_turn(self) -> None:
        if self._still_current():
            self._decide(self._selection(), whole_turn=True)

    def action_reject(self) -> None:
        if self.review is None:
            return
        self.feedback.display = True
        self.feedback.value = ""
        self.feedback.focus()

    @on(Input.Submitted, "#review-feedback")
    def _feedback_given(self, event: Input.Submitted) -> None:
        event.stop()
        self.feedback.display = False
        self._decide(Decision.reject(event.value.strip()))

    def action_back(self) -> None:
        if self.feedback.display:
            self.feedback.display = False
            self.diff.focus()

    def go_behind(self) -> None:
        """Step back to the conversation; the edit keeps waiting, its hunk choice kept."""
        if self.leaving:
            return
        self.leaving = True
        state = self.state
        if self.review is not None and state is not None and state.proposal is state.original:
            self.kept[self.review.edit.id] = set(self.diff.selected)
        self.dismiss(BEHIND)

    def action_toggle_split(self) -> None:
        self._split_chosen = not self.diff.side_by_side
        self.diff.set_side_by_side(self._split_chosen)

    def action_edit(self) -> None:
        state = self.state
        if state is None or state.refused:
            return
        text = state.text_with(self.diff.selected)
        command = external_editor()
        if command is None:
            self.app.push_screen(EditorScreen(state.proposal.path, text), self._edited(text))
            return
        suspend = None if self.app.is_headless else self.app.suspend
        suffix = os.path.splitext(state.proposal.path)[1]
        content, problem = edit_in_editor(command, text, suffix, suspend)
        if problem:
            self.app.notify(safe(problem), severity="warning", timeout=6, markup=False)
        self._edited(text)(content)

    def _edited(self, original: str) -> Callable[[str | None], None]:
        def done(content: str | None) -> None:
            if content is None or self.state is None:
                return
            if content == original:
                self.app.notify("nothing was changed in the editor; still reviewing", timeout=4)
                return
            if self._still_current():
                self._decide(self.state.decide(Decision.edited(content)))

        return done
