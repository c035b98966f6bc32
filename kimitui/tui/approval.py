"""Which approval gate the TUI runs with, and the label the header shows.

``ask`` and ``auto`` both run on the interactive :class:`AskGate` (``auto``
with its session toggle on), so the user can switch between them at any
time; ``never`` applies nothing and cannot be switched.
"""

from __future__ import annotations

from dataclasses import dataclass

from kimitui.core.gate import AskGate, Gate, gate_for


@dataclass(frozen=True)
class Approval:
    gate: Gate
    label: str  # shown in the header
    notice: str | None = None


def approval_for(policy: str) -> Approval:
    if policy in ("ask", "auto"):
        return Approval(AskGate(auto_approve=policy == "auto"), policy)
    return Approval(gate_for(policy), policy)


def approval_label(gate: Gate, fallback: str) -> str:
    """The header's label for ``gate`` now (the session toggle may have moved it)."""
    if isinstance(gate, AskGate):
        return "auto" if gate.auto_approve else "ask"
    return fallback
