"""The review gate on screen: edits, runs, MCP calls and commits waiting for a
decision, the review screen opened or held behind the composer, and undo.
"""

from __future__ import annotations

import contextlib
import time

from textual import on
from textual.css.query import NoMatches
from textual.widgets import Input

from kimitui.core import events as ev
from kimitui.core.gate import AskGate
from kimitui.tui.approval import approval_label as label_for
from kimitui.tui.commandreview import ask_command
from kimitui.tui.commitreview import ask_commit
from kimitui.tui.dialogs import RunApprovalScreen
from kimitui.tui.host import AppHost
from kimitui.tui.messages import (
    ReviewDecided,
    ReviewsChanged,
)
from kimitui.tui.review import BEHIND, ReviewScreen
from kimitui.tui.statusbar import StatusBar
from kimitui.tui.undo import checkpoint_store, undo_checkpoint

TYPING_S = 1.5  # a key typed in the composer this recently: the user is writing a message


class GateLink(AppHost):
    """One job of KimiApp (not an app of its own): the gate's questions and undo."""

    def _gate_changed(self) -> None:
        if not self._shutting_down and self.is_running:
            self.post_message(ReviewsChanged())

    @on(ReviewsChanged)
    def _reviews_changed(self) -> None:
        gate = self.ask_gate
        if gate is None or self._shutting_down:
            return
        self._ask_run(gate)
        self.mcp_asker.check(gate)
        ask_commit(self, gate)
        if self._review is not None:
            self._review.sync()
        elif gate.current is None:
            self._gate_behind = False
            self._kept_hunks.clear()
        elif self._gate_behind or self._typing_now():
            # Someone writing a message is not interrupted: the edit waits, said
            # above the composer, until ctrl+g opens it.
            self._gate_behind = True
        else:
            self._open_review(guarded=True)
        self._show_gate_line()
        self._refresh_bindings_if_changed()

    def _ask_run(self, gate: AskGate) -> None:
        """An unconfined run waits for a yes or no, one at a time."""
        if self._run_asked is not None or not gate.run_reviews:
            return
        request = gate.run_reviews[0].request
        self._run_asked = request.call_id

        def answered(refusal: str | None) -> None:
            self._run_asked = None
            gate.decide_run(request.call_id, refusal)

        if request.tool == "run_command":
            ask_command(self, request, answered)
            return
        self.push_screen(RunApprovalScreen(request), answered)

    def _drafting(self) -> bool:
        box = self.composer.input
        return box.has_focus and bool(box.text)

    def _typing_now(self) -> bool:
        """A draft in the composer, a key typed there just now, or a one-line field
        (the find bar) in use: someone is writing, and a review would take their keys."""
        if len(self.screen_stack) != 1:
            return False
        if isinstance(self.focused, Input):
            return True
        box = self.composer.input
        recent = time.monotonic() - box.last_key_at < TYPING_S
        return box.has_focus and (recent or bool(box.text))

    def _open_review(self, *, guarded: bool) -> None:
        gate = self.ask_gate
        if gate is None or gate.current is None or self._review is not None:
            return
        self._gate_behind = False
        self._review = ReviewScreen(
            gate, self.agent.toolbox.workspace, guarded=guarded, kept=self._kept_hunks
        )
        self.push_screen(self._review, self._review_closed)
        self._show_gate_line()

    def _show_gate_line(self) -> None:
        gate = self.ask_gate
        current = gate.current if gate is not None else None
        text = ""
        if current is not None and self._review is None:
            more = len(gate.pending) - 1 if gate is not None else 0
            extra = f" (and {more} more)" if more > 0 else ""
            path = current.edit.path
            text = f"✎ the edit to {path}{extra} waits for your review · ctrl+g opens it"
        with contextlib.suppress(NoMatches):
            self.composer.show_gate(text)

    def _review_closed(self, result: str | None) -> None:
        self._review = None
        gate = self.ask_gate
        if result == BEHIND:
            self._gate_behind = True
            if not isinstance(self.screen.focused, Input):  # typing in the find bar goes on
                self.call_after_refresh(self.composer.input.focus)
        elif gate is not None and gate.current is not None:
            self.post_message(ReviewsChanged())
        if not self._shutting_down:
            self._show_gate_line()
            self._refresh_bindings_if_changed()

    def action_open_review(self) -> None:
        self._open_review(guarded=False)

    def action_look_behind(self) -> None:
        if isinstance(self.screen, ReviewScreen):
            self.screen.go_behind()

    def action_focus_composer(self) -> None:
        if isinstance(self.screen, ReviewScreen):
            self.screen.go_behind()  # closing it focuses the composer
        else:
            self.composer.input.focus()

    @on(ReviewDecided)
    def _review_decided(self, message: ReviewDecided) -> None:
        gate = self.ask_gate
        if gate is None:
            return
        gate.decide(message.edit_id, message.decision)
        if message.whole_turn:
            gate.approve_turn()

    def action_toggle_auto_approve(self) -> None:
        gate = self.ask_gate
        if gate is None:
            return
        gate.set_auto(not gate.auto_approve)
        self.approval_label = label_for(gate, self.approval_label)
        self.query_one(StatusBar).set_approval(self.approval_label)
        if gate.auto_approve:
            self._notice("auto-approve on: edits are applied without review (ctrl+t: ask again)")
        else:
            self._notice("auto-approve off: every edit waits for your review again")

    def action_undo(self) -> None:
        if checkpoint_store(self) is not None:
            undo_checkpoint(self)  # the whole last step: edits and what commands did
        else:
            self.undo_edit()

    def _can_undo(self) -> bool:
        store = checkpoint_store(self)
        return bool(store.checkpoints) if store is not None else self.journal.last is not None

    def undo_edit(self) -> None:
        """Revert the newest edit from the journal, if the file is still as written."""
        result = self.journal.undo(self.agent.toolbox.workspace)
        # Through the Agent, so the saved session records the undo even if no run follows.
        self.agent.emit(ev.Notice(result.message, "info" if result.ok else "warning"))
        if result.ok and result.entry is not None:
            self.agent.note(result.note)
            path = result.entry.path
            self.tracker.own_write(path)
            self.project_tree.mark(path, "ours", on=result.entry.before is not None)
            self.project_tree.reload()
        self.refresh_bindings()
