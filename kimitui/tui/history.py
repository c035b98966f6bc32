"""A resumed session's earlier steps, read back from its transcript for the panes.

Only what the transcript pane and the tool table show is replayed: steps (as
collapsed blocks), reasoning, answers, the user's messages, tool calls, their
results and the decisions on edits (for the rows' verdicts and the tree's
marks). Proposals and notices belong to their moment and are left in the
transcript (``kimitui export`` shows them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kimitui.core import events as ev

# Decisions too: they give an edit's row its verdict and the tree its ● marks.
REPLAYED = frozenset(
    {"step", "reasoning", "content", "tool_call", "tool_result", "user_message", "decision"}
)


def earlier_events(records: Iterable[dict[str, Any]]) -> list[ev.Event]:
    """The replayable events among a transcript's recorded ones, in order."""
    events = (ev.event_from_dict(r) for r in records if r.get("type") in REPLAYED)
    return [e for e in events if e is not None]


def heading(events: list[ev.Event]) -> str:
    steps = sum(isinstance(e, ev.StepStarted) for e in events)
    calls = sum(isinstance(e, ev.ToolCall) for e in events)
    return (
        f"earlier in this session: {steps} step(s), {calls} tool call(s) "
        "· click a step to expand it"
    )
