"""What the review view is deciding on: the proposal, re-diffed when the file changes.

No Textual here. A proposal whose file changed on disk during the review is
re-made against the new content: an ``edit_file`` whose ``old_string`` still
matches once is re-applied; anything else becomes an explicit overwrite
(the proposed content diffed against what is on disk now) that the user must
choose, or reject.
"""

from __future__ import annotations

from dataclasses import dataclass

from kimitui.tools.edits import (
    Conflict,
    Decision,
    ProposedEdit,
    apply_hunks,
    overwrite_edit,
    rebase_edit,
)
from kimitui.tools.workspace import SandboxError, Workspace

MAX_CHARS = 4_000_000  # old + new text a review will diff on screen
MAX_ROWS = 200_000  # diff lines


def refusal(edit: ProposedEdit) -> str:
    """Why the diff of ``edit`` is not shown, or "" when it can be."""
    if "\x00" in edit.new_text or (edit.old_text and "\x00" in edit.old_text):
        return f"{edit.path} is binary: no diff is shown. y writes the proposal whole, n rejects."
    size = len(edit.new_text) + len(edit.old_text or "")
    rows = sum(len(h.lines) + 1 for h in edit.hunks)
    if size > MAX_CHARS or rows > MAX_ROWS:
        return (
            f"{edit.path} is too large to review here ({size:,} characters, {rows:,} diff "
            "lines): no diff is shown. y writes the proposal whole, n rejects."
        )
    return ""


@dataclass
class ReviewState:
    original: ProposedEdit
    proposal: ProposedEdit
    conflict: Conflict = ""
    message: str = ""  # what happened on disk, for the banner
    refused: str = ""  # binary or huge: why there is no diff
    broken: bool = False  # the file can no longer be written at all

    @classmethod
    def of(cls, edit: ProposedEdit) -> ReviewState:
        return cls(edit, edit, refused=refusal(edit))

    @property
    def can_apply(self) -> bool:
        """y applies: no unresolved conflict."""
        return self.conflict != "overwrite" and not self.broken

    @property
    def can_overwrite(self) -> bool:
        return self.conflict == "overwrite" and not self.broken

    def recheck(self, workspace: Workspace) -> bool:
        """Re-diff when the file on disk no longer is the proposal's base; True if it did."""
        try:
            current = workspace.read_text(self.original.path)
        except (SandboxError, OSError) as exc:
            return self._break(f"{self.original.path} cannot be read any more: {exc}")
        if current == self.proposal.old_text and not self.broken:
            return False
        if current == self.original.old_text:
            self._set(self.original, "", "")
            return True
        try:
            self._rediff(workspace)
        except (SandboxError, OSError) as exc:
            return self._break(f"{self.original.path} can no longer be written: {exc}")
        return True

    def _rediff(self, workspace: Workspace) -> None:
        path = self.original.path
        rebased = rebase_edit(workspace, self.original)
        if rebased is not None:
            self._set(
                rebased,
                "reapplied",
                f"{path} changed on disk during the review. The old_string still matches "
                "once, so the edit was re-applied onto the new content (shown below).",
            )
            return
        fits = " and the edit no longer fits it" if self.original.tool == "edit_file" else ""
        self._set(
            overwrite_edit(workspace, self.original),
            "overwrite",
            f"{path} changed on disk during the review{fits}. Below: what overwriting "
            "the file as it is now would change. o overwrites (selected hunks), n rejects.",
        )

    def _set(self, proposal: ProposedEdit, conflict: Conflict, message: str) -> None:
        self.proposal, self.conflict, self.message, self.broken = proposal, conflict, message, False
        self.refused = refusal(proposal)

    def _break(self, message: str) -> bool:
        changed = not self.broken or self.message != message
        self.broken, self.message = True, message
        return changed

    def decide(self, decision: Decision) -> Decision:
        """``decision`` as made on the current proposal (tagged when it was re-diffed)."""
        if self.proposal is self.original or decision.verdict == "rejected":
            return decision
        return decision.on(self.proposal, self.conflict or "reapplied")

    def selection(self, selected: set[int]) -> Decision:
        hunks = self.proposal.hunks
        if len(selected) == len(hunks):
            return self.decide(Decision.approve_all(self.proposal))
        return self.decide(Decision.partial(selected))

    def text_with(self, selected: set[int]) -> str:
        """The file as the selected hunks would leave it (what the editor starts from)."""
        hunks = self.proposal.hunks
        if len(selected) == len(hunks):
            return self.proposal.new_text
        return apply_hunks(self.proposal.old_text or "", hunks, selected)
