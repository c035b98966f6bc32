"""A saved session as a readable Markdown transcript, or as raw JSON.

The Markdown is built from the recorded events (what the user saw), in order:
the task, then per step the reasoning (collapsed), the answer, each tool call
with its result (collapsed), diffs in fenced ``diff`` blocks and decisions,
and finally the usage totals. No clock times or durations appear in the body,
so two exports of the same conversation read the same.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from kimitui.core.catalog import summarize
from kimitui.core.redact import redact_patterns
from kimitui.core.safetext import json_safe, safe
from kimitui.core.transcript import Transcript, latest_messages

Event = dict[str, Any]


def export_json(transcript: Transcript) -> str:
    """Header, the conversation as last sent, and every record, as one JSON document."""
    doc = {
        "session": transcript.header,
        "messages": latest_messages(transcript.records),
        "records": transcript.records,
        "problems": transcript.problems,
    }
    # Often printed to a terminal: controls as JSON escapes, so it parses to the same
    # records. URL credentials and bearer tokens are masked (a transcript from an older
    # kimitui may hold them).
    return json_safe(redact_patterns(json.dumps(doc, ensure_ascii=False, indent=2))) + "\n"


def fence(text: str, lang: str = "") -> str:
    """A fenced block that survives backticks inside ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text.rstrip(chr(10))}\n{ticks}"


def details(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"


def export_markdown(transcript: Transcript) -> str:
    summary = summarize(transcript)
    head = [
        f"# kimitui session {summary.id}",
        "",
        f"- project: `{summary.project}`",
        f"- model: `{transcript.model}`",
        f"- started: {summary.started}",
        f"- ended: {summary.ended}",
    ]
    body = [block for record in transcript.records for block in _record_blocks(record)]
    # Often printed to a terminal: controls from the model or the files shown as escapes.
    text = "\n\n".join(["\n".join(head), *body, _totals(transcript)])
    return safe(redact_patterns(text) + "\n")


def _record_blocks(record: dict[str, Any]) -> Iterator[str]:
    if record.get("kind") == "resumed":
        yield "---\n\n*The session was resumed here.*"
    elif record.get("kind") == "event" and isinstance(record.get("event"), dict):
        yield from _blocks(record["event"])


def _blocks(event: Event) -> Iterator[str]:
    render = _RENDERERS.get(str(event.get("type")))
    if render is not None:
        text = render(event)
        if text:
            yield text


def _user(e: Event) -> str:
    titles = {"task": "Task", "steer": "Steer", "queued": "Follow-up", "note": "Note"}
    title = titles.get(e.get("kind", ""), "User")
    return f"## {title}\n\n{e.get('text', '')}"


def _tool_call(e: Event) -> str:
    args = e.get("arguments")
    shown = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False, indent=2)
    return f"**Tool call** `{e.get('name')}`\n\n{fence(shown, 'json')}"


def _tool_result(e: Event) -> str:
    status = "ok" if e.get("ok") else "error"
    return details(f"Result of {e.get('name')} ({status})", fence(str(e.get("output", ""))))


def _edit(e: Event) -> str:
    kind = "New file" if e.get("new_file") else "Edit"
    title = f"**{kind}** `{e.get('path')}` (+{e.get('added')} -{e.get('removed')})"
    return f"{title}\n\n{fence(str(e.get('diff', '')), 'diff')}"


def _decision(e: Event) -> str:
    hunks = ", ".join(str(h) for h in e.get("hunks") or [])
    partial = f" (hunks {hunks})" if e.get("verdict") == "partial" else ""
    feedback = f": {e['feedback']}" if e.get("feedback") else ""
    if e.get("kind") == "command":
        return f"**Decision** on the command ({e.get('by')}): {e.get('verdict')}{feedback}"
    return f"**Decision** on `{e.get('path')}`: {e.get('verdict')}{partial}{feedback}"


def _usage(e: Event) -> str:
    return (
        f"*Tokens: {e.get('prompt', 0):,} prompt ({e.get('cached', 0):,} cached), "
        f"{e.get('completion', 0):,} completion ({e.get('reasoning', 0):,} reasoning)*"
    )


def _notice(e: Event) -> str:
    return f"> **{e.get('level', 'info')}:** {e.get('text', '')}"


def _done(e: Event) -> str:
    message = f": {e['message']}" if e.get("message") and e.get("reason") != "finished" else ""
    return f"**Run ended: {e.get('reason')}**{message}"


_RENDERERS: dict[str, Callable[[Event], str]] = {
    "user_message": _user,
    "step": lambda e: f"## Step {e.get('n')}",
    "reasoning": lambda e: details("Reasoning", str(e.get("text", ""))),
    "content": lambda e: str(e.get("text", "")),
    "tool_call": _tool_call,
    "tool_result": _tool_result,
    "edit": _edit,
    "decision": _decision,
    "usage": _usage,
    "notice": _notice,
    "done": _done,
}


def _totals(transcript: Transcript) -> str:
    spent = transcript.spent()
    used = spent.used
    cost = "—" if spent.cost is None else f"{spent.cost:.4f}"
    return "\n".join(
        [
            "## Totals",
            "",
            "| steps | prompt | cached | completion | reasoning | total | cost |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            f"| {spent.steps} | {used.prompt:,} | {used.cached:,} | {used.completion:,} "
            f"| {used.reasoning:,} | {used.total:,} | {cost} |",
        ]
    )
