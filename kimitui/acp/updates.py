"""The engine's events as ACP session updates, sent in the order they happened.

Live, the streamed fragments become thought and message chunks (the whole
texts the loop emits after each step would repeat them); a tool call goes
``pending`` -> ``in_progress`` -> ``completed`` / ``failed``, an edit waiting
at ``pending`` until it is decided. Replayed (``session/load``), a saved
transcript's events are whole texts, since no fragment was saved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from acp import (
    start_tool_call,
    text_block,
    tool_content,
    update_agent_message_text,
    update_agent_thought_text,
    update_tool_call,
    update_user_message_text,
)
from acp.schema import (
    AgentMessageChunk,
    AgentThoughtChunk,
    Cost,
    TextContentBlock,
    ToolCallLocation,
    ToolCallProgress,
    ToolKind,
    UsageUpdate,
)

from kimitui.core import events as ev
from kimitui.core.budget import Budget
from kimitui.core.gate import EDIT_TOOLS

log = logging.getLogger(__name__)

Update = Any  # one of the SDK's session update models
Send = Callable[[Update], Awaitable[None]]

# What a client shows beside each call; MCP tools and unknown names are "other".
TOOL_KINDS: dict[str, ToolKind] = {
    "list_files": "search",
    "search": "search",
    "read_file": "read",
    "write_file": "edit",
    "edit_file": "edit",
    "run_tests": "execute",
    "run_command": "execute",
    "git_status": "read",
    "git_diff": "read",
    "git_log": "read",
    "git_commit": "execute",
}
# A tool's output shown in the editor; the model saw it whole (tools cap it already).
MAX_SHOWN_OUTPUT = 20_000
USER_KINDS = ("task", "steer", "queued")
MAX_LIVE_CHARS = 8_000  # the tail of a running command's output shown while it runs
MAX_MERGED_CHARS = 64 * 1024  # one merged text chunk, so no single line grows without end
NOT_APPLIED = "was NOT applied"  # apply_decision's words for an approved edit it could not write


class Outbox:
    """Updates queued by synchronous listeners and sent one at a time, in order.

    Text chunks queued back to back while the client reads slowly are merged,
    so a model streaming one character per event costs one update per read,
    not one object per character. ``flush`` waits until everything queued so
    far is on the wire: a permission request or a prompt's answer must never
    overtake the updates before it.
    """

    def __init__(self, send: Send) -> None:
        self._send = send
        self._items: deque[Update] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task = asyncio.create_task(self._pump(), name="acp-outbox")

    def put(self, update: Update) -> None:
        if self._items and (merged := _merged(self._items[-1], update)) is not None:
            self._items[-1] = merged
            return
        self._items.append(update)
        self._idle.clear()
        self._wake.set()

    def put_all(self, updates: Iterable[Update]) -> None:
        for update in updates:
            self.put(update)

    async def flush(self) -> None:
        await self._idle.wait()

    async def _pump(self) -> None:
        while True:
            await self._wake.wait()
            while self._items:
                update = self._items.popleft()
                try:
                    await self._send(update)
                except Exception:  # the client went away: the run still ends cleanly
                    log.exception("a session update could not be sent")
            self._wake.clear()
            self._idle.set()

    async def aclose(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _merged(last: Update, update: Update) -> Update | None:
    """One chunk holding both texts, when both are plain text chunks of the same kind;
    the newer of two live-output updates of one call (each holds the whole tail)."""
    if _live_output(update) and _live_output(last):
        return update if last.tool_call_id == update.tool_call_id else None
    if not isinstance(update, AgentMessageChunk | AgentThoughtChunk):
        return None
    if type(last) is not type(update) or last.field_meta or update.field_meta:
        return None
    if not isinstance(last.content, TextContentBlock):
        return None
    if not isinstance(update.content, TextContentBlock):
        return None
    text = last.content.text + update.content.text
    if len(text) > MAX_MERGED_CHARS:
        return None
    return type(update)(session_update=update.session_update, content=text_block(text))


def _live_output(update: Update) -> bool:
    return isinstance(update, ToolCallProgress) and bool(
        update.field_meta and update.field_meta.get("kimitui", {}).get("live_output")
    )


def live_output(call_id: str, tail: str) -> Update:
    """A running command's output so far (its tail), replacing the call's content."""
    return ToolCallProgress(
        session_update="tool_call_update",
        tool_call_id=call_id,
        content=[tool_content(text_block(tail))],
        field_meta={"kimitui": {"live_output": True}},
    )


def title(name: str, args: Any) -> str:
    """One line naming the call, e.g. ``read_file app.py`` or ``run_command: pytest -q``."""
    if not isinstance(args, dict):
        return name
    for key in ("path", "command", "pattern", "message"):
        value = args.get(key)
        if isinstance(value, str) and value:
            shown = " ".join(value.split())
            shown = shown if len(shown) <= 80 else shown[:79] + "…"
            return f"{name} {shown}" if key == "path" else f"{name}: {shown}"
    return name


def locations(project: Path, args: Any) -> list[ToolCallLocation] | None:
    """The file a call names, for the editor to show; only a path inside the project.

    The path is the model's own words: the editor may open what it is given,
    so ``../../`` or an absolute path elsewhere is not passed on.
    """
    path = args.get("path") if isinstance(args, dict) else None
    if not isinstance(path, str) or not path or "\x00" in path:
        return None
    where = os.path.normpath(project / path)
    if not Path(where).is_relative_to(project):
        return None
    return [ToolCallLocation(path=where)]


def _shown_output(output: str) -> str:
    if len(output) <= MAX_SHOWN_OUTPUT:
        return output
    return "…" + output[-MAX_SHOWN_OUTPUT:]


def tool_started(project: Path, event: ev.ToolCall) -> list[Update]:
    start = start_tool_call(
        event.id,
        title(event.name, event.arguments),
        kind=TOOL_KINDS.get(event.name, "other"),
        status="pending",
        locations=locations(project, event.arguments),
        raw_input=event.arguments,
    )
    if event.name in EDIT_TOOLS:
        return [start]  # pending until the user decides (the gate shows the diff)
    return [start, update_tool_call(event.id, status="in_progress")]


def tool_finished(name: str, call_id: str, ok: bool, output: str) -> Update:
    status = "completed" if ok else "failed"
    if name in EDIT_TOOLS:  # its content is the diff; the result rides beside it
        # Approved, but the file changed on disk and the edit no longer fit: not written.
        if NOT_APPLIED in output:
            status = "failed"
        return update_tool_call(call_id, status=status, raw_output=_shown_output(output))
    shown = _shown_output(output)
    return update_tool_call(
        call_id, status=status, content=[tool_content(text_block(shown))], raw_output=shown
    )


def usage_update(budget: Budget, event: ev.UsageReport | None = None) -> UsageUpdate:
    """Context use for the client's meter; every counter and limit in ``_meta.kimitui``."""
    used = round(budget.context_window * budget.context_pct / 100)
    currency = budget.prices.currency
    cost = Cost(amount=budget.cost, currency=currency) if budget.cost is not None else None
    return UsageUpdate(
        session_update="usage_update",
        used=max(used, 0),
        size=budget.context_window,
        cost=cost,
        field_meta={"kimitui": usage_meta(budget, event)},
    )


def usage_meta(budget: Budget, event: ev.UsageReport | None = None) -> dict[str, Any]:
    limits = budget.limits
    meta: dict[str, Any] = {
        "steps": budget.steps,
        "tokens": {
            "prompt": budget.used.prompt,
            "completion": budget.used.completion,
            "reasoning": budget.used.reasoning,
            "cached": budget.used.cached,
            "total": budget.used.total,
        },
        "context_pct": budget.context_pct,
        "cost": budget.cost,
        "currency": budget.prices.currency,
        "elapsed_s": round(budget.elapsed, 3),
        "limits": {
            "max_steps": limits.max_steps,
            "token_budget": limits.token_budget,
            "time_budget": limits.time_budget,
            "cost_budget": limits.cost_budget,
        },
    }
    if event is not None:
        meta["last_call"] = {
            "prompt": event.prompt,
            "completion": event.completion,
            "reasoning": event.reasoning,
            "cached": event.cached,
            "total": event.total,
        }
    return meta


def say(text: str) -> Update:
    """kimitui's own word in the conversation, set apart from the model's text."""
    return update_agent_message_text(f"\n\n[kimitui: {text}]\n\n")


class LiveUpdates:
    """An Agent listener: each event's updates go to the outbox as it happens."""

    def __init__(self, project: Path, budget: Budget, outbox: Outbox) -> None:
        self.project = project
        self.budget = budget
        self.outbox = outbox
        self._names: dict[str, str] = {}  # call id -> tool name
        self._output: dict[str, str] = {}  # call id -> a running command's output tail

    def __call__(self, event: ev.Event) -> None:
        self.outbox.put_all(self.updates(event))

    def updates(self, event: ev.Event) -> list[Update]:
        match event:
            case ev.ReasoningDelta() if event.text:
                return [update_agent_thought_text(event.text)]
            case ev.ContentDelta() if event.text:
                return [update_agent_message_text(event.text)]
            case ev.ToolCall():
                self._names[event.id] = event.name
                return tool_started(self.project, event)
            case ev.EditDecided() if event.verdict != "rejected":
                return [update_tool_call(event.id, status="in_progress")]
            case ev.CommandOutputDelta():
                tail = (self._output.get(event.id, "") + event.text)[-MAX_LIVE_CHARS:]
                self._output[event.id] = tail
                return [live_output(event.id, tail)]
            case ev.ToolOutput():
                name = self._names.pop(event.id, event.name)
                self._output.pop(event.id, None)
                return [tool_finished(name, event.id, event.ok, event.output)]
            case ev.UsageReport():
                return [usage_update(self.budget, event)]
            case ev.Done() if event.reason not in ("finished", "interrupted", "error"):
                # A budget ran out: said in the conversation, not only in the stop reason.
                return [say(f"stopped: {event.message}")]
            case ev.Notice() if event.level == "warning":
                return [say(event.text)]  # e.g. the session is not saved any more
            case ev.McpStatus() if event.status == "failed":
                return [say(f"MCP server {event.server} failed: {event.error}")]
        return []


def replay(project: Path, events: Iterable[dict[str, Any]]) -> list[Update]:
    """A saved session's conversation as updates, for ``session/load``."""
    names: dict[str, str] = {}
    updates: list[Update] = []
    for data in events:
        event = ev.event_from_dict(data)
        match event:
            case ev.UserMessage() if event.kind in USER_KINDS:
                updates.append(update_user_message_text(event.text))
            case ev.Reasoning() if event.text:
                updates.append(update_agent_thought_text(event.text))
            case ev.Content() if event.text:
                updates.append(update_agent_message_text(event.text))
            case ev.ToolCall():
                names[event.id] = event.name
                updates.append(tool_started(project, event)[0])
            case ev.EditProposed():
                diff = tool_content(text_block(f"```diff\n{event.diff}\n```"))
                where = locations(project, {"path": event.path})
                updates.append(update_tool_call(event.id, content=[diff], locations=where))
            case ev.ToolOutput():
                name = names.get(event.id, event.name)
                updates.append(tool_finished(name, event.id, event.ok, event.output))
    return updates
