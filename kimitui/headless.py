"""Headless front end: one readable line per event, or JSONL with --json.

Both are written to a terminal as often as to a pipe, and carry text from the
model, the files and the server: a readable line has its controls escaped
(:func:`~kimitui.core.safetext.safe`), a JSON line has every character a
terminal or an encoder must not see as a ``\\u`` escape, so it still parses to
exactly the event.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from kimitui.core import events as ev
from kimitui.core.jsonsafe import escape_surrogates
from kimitui.core.loop import Agent
from kimitui.core.safetext import json_safe, safe

EXIT_CODES = {
    "finished": 0,
    "error": 1,
    "max_steps": 3,
    "token_budget": 3,
    "time_budget": 3,
    "cost_budget": 3,
    "interrupted": 130,
}
# stdout was closed by its reader (`kimitui ... | head`): 128 + SIGPIPE, what a
# shell reports for a command killed by SIGPIPE, as `yes | head` gives.
EXIT_PIPE_CLOSED = 141


def one_line(text: str, limit: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class HeadlessRenderer:
    """Subscribes to an Agent and writes its events to a stream."""

    def __init__(
        self,
        out: TextIO = sys.stdout,
        *,
        json_mode: bool = False,
        on_closed: Callable[[], None] | None = None,
    ) -> None:
        self.out = out
        self.json_mode = json_mode
        self.step = 0
        self.closed = False  # the reader went away; nothing more is written
        self.on_closed = on_closed
        self._last_text = ""  # the final answer or error, so `done` need not repeat it

    def __call__(self, event: ev.Event) -> None:
        if self.closed or event.streaming or isinstance(event, ev.StateChanged):
            return
        if isinstance(event, ev.StepStarted):
            self.step = event.n
        line = self.json_line(event) if self.json_mode else self.format(event)
        if line is not None:
            self._write(line)

    def _write(self, line: str) -> None:
        try:
            # A file name that is not UTF-8 holds lone surrogates: shown as \udcff escapes
            # (valid inside JSON strings), since a strict stdout cannot encode them.
            self.out.write(escape_surrogates(line) + "\n")
            self.out.flush()
        except BrokenPipeError:
            self._reader_gone()

    def _reader_gone(self) -> None:
        self.closed = True
        try:
            # What is still buffered would fail again at exit, with a traceback:
            # send it nowhere instead.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.out.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass  # not a real file (a test's buffer): nothing is flushed at exit
        if self.on_closed is not None:
            self.on_closed()  # nobody reads the run any more: stop it

    @staticmethod
    def json_line(event: ev.Event) -> str:
        return json_safe(json.dumps(event.to_dict(), ensure_ascii=False))

    def format(self, event: ev.Event) -> str | None:
        """The event as readable text with its controls escaped, or None if not shown."""
        line = self._format(event)
        return None if line is None else safe(line)

    def _format(self, event: ev.Event) -> str | None:
        prefix = f"[step {self.step}]"
        match event:
            case ev.SessionStarted():
                sandbox = f" · sandbox: {event.sandbox}" if event.sandbox else ""
                return f"session {event.id} · {event.model} · {event.project}{sandbox}"
            case ev.StepStarted():
                return None
            case ev.UserMessage():
                return f"[{event.kind}] {one_line(event.text, 200)}"
            case ev.Reasoning():
                return f"{prefix} thinking: {one_line(event.text)}"
            case ev.Content():
                self._last_text = event.text
                return f"{prefix} says: {event.text}"
            case ev.ToolCall():
                args = event.arguments
                shown = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
                return f"{prefix} {event.name}({one_line(shown, 80)})"
            case ev.ToolOutput():
                status = "ok" if event.ok else "error"
                return f"{prefix}   -> {status}: {one_line(event.output, 90)}"
            case ev.EditProposed():
                kind = "new file" if event.new_file else "edit"
                flag = " (overwrites a file the model never read)" if event.unread_overwrite else ""
                return f"{prefix} {kind} {event.path} +{event.added} -{event.removed}{flag}"
            case ev.EditDecided():
                feedback = f": {one_line(event.feedback, 80)}" if event.feedback else ""
                what = f"command ({event.by})" if event.kind == "command" else event.path
                return f"{prefix} {event.verdict} {what}{feedback}"
            case ev.CommandProposed():
                flags = "".join(f"\n{prefix}   ! {flag}" for flag in event.flags)
                return f"{prefix} $ {one_line(event.command, 160)}{flags}"
            case ev.CommandFinished():
                code = "timed out" if event.exit is None else f"exit {event.exit}"
                return f"{prefix}   {code} in {event.duration_s:g} s"
            case ev.CheckpointTaken():
                return (
                    f"{prefix} checkpoint: {event.files} files ({event.duration_s * 1000:.0f} ms)"
                )
            case ev.UsageReport():
                return self._usage(event)
            case ev.RetryScheduled():
                return f"retry {event.attempt}: {event.reason}; waiting {event.wait_s:g} s"
            case ev.McpStatus():
                tools = f" · {event.tools} tools" if event.status == "ready" else ""
                error = f": {one_line(event.error, 160)}" if event.error else ""
                return f"mcp {event.server}: {event.status}{tools}{error}"
            case ev.Notice():
                self._last_text = event.text
                return f"{event.level}: {event.text}"
            case ev.Done():
                if event.message == self._last_text:  # just printed: the answer or the error
                    return f"done ({event.reason})"
                return f"done ({event.reason}): {event.message}"
        return None

    def _usage(self, u: ev.UsageReport) -> str:
        cost = f" · cost {u.cost:.4f}" if u.cost is not None else ""
        return (
            f"[step {self.step}] tokens: {u.prompt:,} prompt ({u.cached:,} cached), "
            f"{u.completion:,} completion ({u.reasoning:,} thinking) · "
            f"session {u.session_total:,} · context {u.context_pct:g}%{cost}"
        )


async def run_headless(
    agent: Agent, task: str | None, *, json_mode: bool, notices: Sequence[ev.Notice] = ()
) -> int:
    """Drive the Agent to the end and return the process exit code.

    ``notices`` (e.g. what a resume repaired) are shown before the run starts.
    """
    renderer = HeadlessRenderer(json_mode=json_mode, on_closed=agent.stop)
    agent.subscribe(renderer)
    for notice in notices:
        agent.emit(notice)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, agent.stop)
    try:
        done = await agent.run(task)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await agent.client.close()
    return EXIT_PIPE_CLOSED if renderer.closed else EXIT_CODES[done.reason]
