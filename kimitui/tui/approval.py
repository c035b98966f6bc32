"""Which approval policy the TUI really runs with: the one place to change for issue 6.

``--approve ask`` needs the interactive review view, which is not built yet.
Until it is, "ask" falls back to "never" (nothing touches disk) and the app
says so; "auto" and "never" run as asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from kimitui.core.gate import Gate, gate_for

ASK_FALLBACK_NOTICE = (
    "Interactive review (--approve ask) arrives in a later build, so edits are NOT "
    "applied: running as --approve never, and the model is told each edit was rejected. "
    "Restart with --approve auto to let edits through."
)


@dataclass(frozen=True)
class Approval:
    gate: Gate
    label: str  # shown in the header
    notice: str | None = None


def approval_for(policy: str) -> Approval:
    if policy == "ask":
        return Approval(gate_for("never"), "never (ask: later)", ASK_FALLBACK_NOTICE)
    return Approval(gate_for(policy), policy)
