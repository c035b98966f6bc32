"""Picking a saved session up again: conversation, counters and pending calls.

A crash can cut a step anywhere. What was recorded is trusted; what was not is
never guessed: a call with no result is either answered from the edit journal
(the user had decided it) or run again, so an edit that waited at the gate is
proposed again, re-diffed against the files as they are now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kimitui.core import events as ev
from kimitui.core.journal import Journal, model_note
from kimitui.core.llm import ToolCallDraft
from kimitui.core.transcript import Message, Record, Transcript

if TYPE_CHECKING:
    from kimitui.core.loop import Agent


@dataclass
class Repair:
    """A cut conversation made valid: its messages, the calls to run again, and why."""

    messages: list[Message]
    pending: list[ToolCallDraft] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def repair(messages: list[Message], decisions: dict[str, Record]) -> Repair:
    """Answer or re-queue the calls of a step cut before all its results were in.

    Only the last assistant message can lack tool results (the loop answers
    every call before anything else is added), and its calls run in order, so
    the missing ones are its last. One the user had decided is answered from
    the journal, so no edit is applied twice; the others never finished and are
    run again, before the model is asked anything.
    """
    last = next(
        (i for i in range(len(messages) - 1, -1, -1) if messages[i].get("role") == "assistant"),
        None,
    )
    if last is None:
        return Repair(messages)
    calls = messages[last].get("tool_calls") or []
    answered = {m.get("tool_call_id") for m in messages[last + 1 :] if m.get("role") == "tool"}
    missing = [c for c in calls if c.get("id") not in answered]
    decided = [c for c in missing if c.get("id") in decisions]
    result = Repair(messages + [_decided_answer(c, decisions[c["id"]]) for c in decided])
    if decided:
        result.notes.append(
            f"{len(decided)} edit(s) decided just before kimitui stopped were answered "
            "from the journal"
        )
    # Each keeps its position in the answer: past the first MAX_TOOL_CALLS, none runs.
    waiting = {id(c) for c in missing if c.get("id") not in decisions}
    pending = [(n, c) for n, c in enumerate(calls) if id(c) in waiting]
    result.pending = [_draft(n, c) for n, c in pending]
    if pending:
        names = ", ".join(d.name for d in result.pending[:8])
        names += ", …" if len(pending) > 8 else ""
        result.notes.append(
            f"{len(pending)} tool call(s) cut short when kimitui stopped; run again now "
            f"({names}); an edit is re-diffed against the file as it is now"
        )
    return result


def _draft(index: int, call: Message) -> ToolCallDraft:
    function = call.get("function") or {}
    return ToolCallDraft(
        index,
        id=str(call.get("id", "")),
        name=str(function.get("name", "")),
        arguments=str(function.get("arguments", "")),
    )


def _decided_answer(call: Message, decision: Record) -> Message:
    path = decision.get("path", "the file")
    if decision.get("verdict") == "rejected":
        feedback = decision.get("feedback")
        note = f" Feedback: {feedback}" if feedback else ""
        text = f"The user rejected this edit to {path}; the file is unchanged.{note}"
    else:
        text = (
            f"The user {decision.get('verdict')} this edit to {path}, but kimitui stopped "
            f"before reporting whether it was written: read {path} to see its current content."
        )
    return {"role": "tool", "tool_call_id": call.get("id"), "content": text}


def restore(agent: Agent, transcript: Transcript) -> list[ev.Notice]:
    """Put the conversation, counters and pending calls of ``transcript`` into ``agent``."""
    notices = [ev.Notice(p, level="warning") for p in transcript.problems]
    decisions = {str(r.get("id")): r for r in transcript.of_kind("journal")}
    fixed = repair(transcript.messages, decisions)
    notices += [ev.Notice(note, level="warning") for note in fixed.notes]
    if fixed.messages:
        agent.messages[:] = fixed.messages
    elif transcript.task:  # stopped before the first message was written
        agent.messages.append({"role": "user", "content": transcript.task})
    agent.pending_calls[:] = fixed.pending
    # Compaction keeps this list verbatim: the model must not forget edits made before the crash.
    agent.applied_edits[:] = applied_summaries(agent.messages, decisions)
    restore_read_paths(agent, transcript, decisions)
    spent = transcript.spent()
    agent.budget.restore(
        steps=spent.steps,
        used=spent.used,
        last_prompt=spent.last_prompt,
        cost=spent.cost,
        elapsed=spent.elapsed,
    )
    notices.append(
        ev.Notice(f"resumed session {transcript.id}: {spent.steps} step(s) so far, continuing")
    )
    return notices


def restore_read_paths(agent: Agent, transcript: Transcript, decisions: dict[str, Record]) -> None:
    """Files the model read or wrote, so a write to them is not flagged as blind."""
    from kimitui.tools.workspace import SandboxError

    ws = agent.toolbox.workspace
    events = transcript.events()
    ok = {e.get("id") for e in events if e.get("type") == "tool_result" and e.get("ok")}
    paths = [
        e["arguments"].get("path")
        for e in events
        if e.get("type") == "tool_call"
        and e.get("name") == "read_file"
        and e.get("id") in ok
        and isinstance(e.get("arguments"), dict)
    ]
    paths += [d.get("path") for d in decisions.values() if d.get("verdict") != "rejected"]
    for path in paths:
        try:
            ws.read_paths.add(ws.relpath(ws.resolve(str(path))))
        except (SandboxError, OSError, ValueError):
            continue  # the file moved out of reach since; nothing to remember


def applied_summaries(messages: list[Message], decisions: dict[str, Record]) -> list[str]:
    """One line per edit that was written, as the loop itself keeps them."""
    results = {m.get("tool_call_id"): m.get("content") for m in messages if m.get("role") == "tool"}
    lines = []
    for call_id, decision in decisions.items():
        output = results.get(call_id)
        if decision.get("verdict") == "rejected" or not isinstance(output, str):
            continue
        if output and "NOT applied" not in output:
            lines.append(f"{decision.get('path')}: {output.splitlines()[0]}")
    return lines


def untold_undos(
    journal: Journal, transcript: Transcript, checkpoint_notes: list[str] | None = None
) -> list[str]:
    """Notes on undos the model never heard of (made after the last run, then quit).

    A note is delivered as a user message before the model's next step; one that
    no recorded message carries is still owed.
    """
    told = {
        e.get("text")
        for e in transcript.events()
        if e.get("type") == "user_message" and e.get("kind") == "note"
    }
    notes = [model_note(e) for e in journal.entries if e.seq in journal.undone]
    notes += checkpoint_notes or []
    return [note for note in notes if note not in told]


def needs_model(messages: list[Message]) -> bool:
    """True when the conversation is waiting for the model (not on a final answer)."""
    if not messages:
        return False
    last = messages[-1]
    return last.get("role") in ("user", "tool") or bool(last.get("tool_calls"))
