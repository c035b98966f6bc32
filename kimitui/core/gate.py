"""The approval gate: every proposed edit passes one before it touches disk.

A gate is anything with ``async review(edit) -> Decision``. The policies here
need no person; the interactive gate lives with the TUI and resolves a future
the loop awaits, so the loop itself never knows who decided.
"""

from __future__ import annotations

from typing import Protocol

from kimitui.tools.edits import Decision, ProposedEdit

NEVER_FEEDBACK = (
    "kimitui is running with --approve never: no edit is applied. "
    "Describe the change you would make instead of proposing it again."
)


class Gate(Protocol):
    async def review(self, edit: ProposedEdit) -> Decision: ...


class AutoGate:
    """``--approve auto``: every hunk of every edit is applied."""

    async def review(self, edit: ProposedEdit) -> Decision:
        return Decision.approve_all(edit)


class NeverGate:
    """``--approve never``: nothing is applied and the model is told why."""

    async def review(self, edit: ProposedEdit) -> Decision:
        return Decision.reject(NEVER_FEEDBACK)


def gate_for(policy: str) -> Gate:
    if policy == "auto":
        return AutoGate()
    if policy == "never":
        return NeverGate()
    raise ValueError(f"approval policy {policy!r} needs an interactive front end")
