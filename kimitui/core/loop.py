"""The Agent: steps, tool dispatch, budgets, the gate, and the user's controls.

One step is one model call plus the tools it asked for. Front ends subscribe
to events and call the controls (pause, resume, interrupt, steer, queue, stop)
from the same event loop; none of them needs a screen.

Message-order rule kept at all times: an assistant message with tool calls is
always followed by one tool message per call before any user message, even
when the user interrupts half-way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from kimitui.core.budget import Budget, TokenUsage
from kimitui.core.compaction import Compacted, Compactor, window_from_overflow
from kimitui.core.events import (
    AgentState,
    Content,
    Done,
    EditDecided,
    EditProposed,
    Event,
    Notice,
    Reasoning,
    SessionStarted,
    StateChanged,
    StepStarted,
    ToolCall,
    ToolOutput,
    UsageReport,
    UserMessage,
)
from kimitui.core.gate import Gate
from kimitui.core.jsonsafe import MAX_JSON_DEPTH, TooDeep, loads
from kimitui.core.llm import (
    MAX_ARGUMENT_CHARS,
    MAX_CALLS_KEPT,
    Completion,
    ModelClient,
    ModelError,
    ToolCallDraft,
    assistant_message,
)
from kimitui.core.redact import Redactor, display_url
from kimitui.tools import Toolbox, apply_decision
from kimitui.tools.edits import WriteHook

log = logging.getLogger(__name__)

SYSTEM_PROMPT = """\
You are kimitui, a careful senior software engineer pair-programming in one \
project folder. Work only through the tools. Read a file before you change it. \
Prefer edit_file for small changes and write_file for new files or rewrites. \
Every edit is shown to the user as a diff; they may approve it, apply only some \
hunks, or reject it with feedback: read each tool result and adapt. Run the tests \
after editing. Keep answers short; when the task is done, say what you changed."""

INTERRUPTED_MARK = "[interrupted by the user]"
NOT_RUN = "not run: the user interrupted before this tool call started"
REPEAT_LIMIT = 3
REPEATING = (
    "error: not run: this is call number {n} in a row of {name} with exactly the same "
    "arguments, and nothing changed in between, so the result would be the same. "
    "Use what you already have, or try something different."
)
CUT_SHORT = "stopped: the user interrupted this tool call before it finished"
# Calls of one answer that run; the others are answered with TOO_MANY (a real model
# makes a handful at once, a hostile one thousands).
MAX_TOOL_CALLS = 32
TOO_MANY = (
    "error: not run: this answer made more than {limit} tool calls, and kimitui runs only "
    "the first {limit} of one answer. Repeat the calls you still need, fewer at a time."
)
OVERSIZED = (
    "error: not run: the arguments of this call were {chars:,} characters, over kimitui's "
    "limit of {limit:,} for one tool call. Write big files in parts (write_file a first "
    "part, then edit_file to add the rest)."
)
TOO_DEEP = (
    "error: not run: the arguments nest lists or objects deeper than {limit} levels, "
    "which no tool takes. Send a flat JSON object."
)
# Display text for arguments that were not parsed (the raw text would be megabytes).
UNSHOWN = "[arguments not shown: {why}]"
TOO_DEEP_SHOWN = UNSHOWN.format(why=f"nested deeper than {MAX_JSON_DEPTH} levels")


class _Interrupted(Exception):
    """The phase in flight was cancelled by interrupt() or stop()."""


def parse_arguments(raw: str) -> Any:
    """Arguments for display: the parsed object when it parses, else the raw text.

    Nesting past MAX_JSON_DEPTH is never parsed into objects (saving them would
    exhaust the recursion limit): a short note stands in for it.
    """
    if not raw.strip():
        return {}
    try:
        return loads(raw)
    except TooDeep:
        return TOO_DEEP_SHOWN
    except ValueError:
        return raw


class Agent:
    def __init__(
        self,
        *,
        client: ModelClient,
        toolbox: Toolbox,
        gate: Gate,
        budget: Budget,
        project: str,
        system_prompt: str = SYSTEM_PROMPT,
        context_window_from_server: bool = True,
        compact_at: float = 0.85,
    ) -> None:
        self.client = client
        self.toolbox = toolbox
        self.gate = gate
        self.budget = budget
        self.project = project
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt}]
        # Every event is redacted before any listener (transcript, screen, stdout) sees it.
        self.redactor = Redactor.for_endpoint(client.config.api_key, client.config.base_url)
        self.state: AgentState = "idle"
        # The tool list is part of the cached prefix: build it once, send it byte-identical.
        self._tools = toolbox.schemas()
        self._listeners: list[Callable[[Event], None]] = []
        self._steers: list[str] = []
        self._notes: list[str] = []  # what the user did that the model must hear of
        self.on_edit_applied: WriteHook | None = None  # e.g. the undo journal
        self._queued: list[str] = []
        self._running = asyncio.Event()
        self._running.set()
        self._waiting_after_interrupt = False
        self._current: asyncio.Task[Any] | None = None
        self._stop_requested = False
        self._interrupt_pending = False
        self._cancel_requested = False
        self._started = False
        self._extra_checked = False
        self._in_run = False
        self._ask_server_window = context_window_from_server
        self.compactor = Compactor(client, budget, threshold=compact_at)
        self.applied_edits: list[str] = []
        # Calls of a resumed session's last step that never got a result: run before anything.
        self.pending_calls: list[ToolCallDraft] = []
        self._last_call: tuple[str, str] | None = None
        self._repeats = 0
        # [git] auto_commit: commits each batch of applied edits (paths, summary lines).
        self.auto_commit: Callable[[list[str], list[str]], Awaitable[str]] | None = None
        self._batch_applied: list[tuple[str, str]] = []
        self.startup_notices: list[str] = []  # e.g. which instruction files were loaded

    # -- events -----------------------------------------------------------

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        self._listeners.append(listener)

    def emit(self, event: Event) -> None:
        event = self.redactor.event(event)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                # One broken listener must not stop the others (a front end waiting
                # for Done would hang) nor end the run: it is a bug to log, not to spread.
                log.exception("event listener %r failed on %s", listener, event.type)

    def _set_state(self, state: AgentState) -> None:
        if state != self.state:
            self.state = state
            self.emit(StateChanged(state))

    # -- controls ---------------------------------------------------------

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        """Hold the loop before its next model call."""
        self._running.clear()

    def resume(self) -> None:
        self._waiting_after_interrupt = False
        self._running.set()

    def interrupt(self) -> None:
        """Cancel the stream or tool in flight now; the loop then waits for the user."""
        if self._current is not None and not self._current.done():
            self._cancel_requested = True
            self._current.cancel()
        elif self.state in ("thinking", "tools", "review") or self._in_run:
            # Between two phases, or before the first model call: the next one must not start.
            self._interrupt_pending = True

    def steer(self, text: str) -> None:
        """Deliver a user message before the next model call."""
        self._steers.append(text)
        if self._waiting_after_interrupt:
            self.resume()

    def note(self, text: str) -> None:
        """Tell the model something the user did (e.g. an undo) before its next call."""
        self._notes.append(text)

    def queue(self, text: str) -> None:
        """Deliver a user message once the model has finished its turn."""
        self._queued.append(text)

    def cancel_pending(self, text: str) -> bool:
        """Withdraw a steer or queued message not yet delivered."""
        for pending in (self._steers, self._queued):
            if text in pending:
                pending.remove(text)
                return True
        return False

    @property
    def pending_messages(self) -> list[str]:
        return [*self._steers, *self._queued]

    def stop(self) -> None:
        """End the run at once, whatever phase it is in."""
        self._stop_requested = True
        self.interrupt()
        self._running.set()

    # -- the loop ---------------------------------------------------------

    async def run(self, task: str | None = None) -> Done:
        """Run until the model finishes, a budget runs out, the user stops, or an error."""
        self._stop_requested = False
        self._interrupt_pending = False
        self._in_run = True
        await self._start_session()
        await self._extra_tools_ready()
        self.budget.start()
        try:
            await self._run_pending_calls()
            self._deliver_notes()
            if task:
                self._add_user(task, "task")
            done = await self._loop()
        except asyncio.CancelledError:
            self._finish(Done("interrupted", "cancelled"))
            raise
        except Exception as err:  # a front end must get a Done, never a traceback
            log.exception("agent loop failed")
            done = Done("error", f"internal error: {type(err).__name__}: {err}")
        self._finish(done)
        return done

    async def _run_pending_calls(self) -> None:
        # Their answers must directly follow their assistant message, before any user text.
        if self.pending_calls:
            calls, self.pending_calls = self.pending_calls, []
            await self._run_tools(calls)

    def _finish(self, done: Done) -> None:
        self._in_run = False
        # A pause (or an interrupt's wait) armed for a next step that never came must
        # not hold the next run: it would go silently to "paused".
        self._running.set()
        self._waiting_after_interrupt = False
        self.budget.stop_clock()
        self._set_state("error" if done.reason == "error" else "done")
        self.emit(done)

    async def _start_session(self) -> None:
        if self._started:
            return
        self._started = True
        cfg = self.client.config
        base_url = display_url(cfg.base_url)
        sandbox = self.toolbox.sandbox.level.name
        self.emit(
            SessionStarted(self.client.session_id, self.project, cfg.model, base_url, sandbox)
        )
        if self.toolbox.extra is not None:
            self.toolbox.extra.watch(self.emit)  # MCP servers' states, now and as they change
        for text in self.startup_notices:
            self.emit(Notice(text))
        if self._ask_server_window:
            try:
                window = await self._interruptible(
                    self.client.context_window(warn=self._window_warning)
                )
            except _Interrupted:  # Esc before the first token: wait for the user
                self._wait_for_user()
                window = None
            if window:
                self.budget.context_window = window

    async def _extra_tools_ready(self) -> None:
        """MCP servers start in the background; the first model call waits for them
        (each up to its timeout) so that their tools are offered from step 1."""
        if self._extra_checked:
            return
        self._extra_checked = True
        try:
            await self._interruptible(self.toolbox.extra_ready())
        except _Interrupted:
            self._wait_for_user()
        self._tools = self.toolbox.schemas()

    def _window_warning(self, problem: str) -> None:
        default = self.budget.context_window
        self.emit(
            Notice(
                f"{problem}; using {default:,} tokens instead (set context_window in the "
                "config to choose another)",
                level="warning",
            )
        )

    def _add_user(self, text: str, kind: str) -> None:
        self.messages.append({"role": "user", "content": text})
        self.emit(UserMessage(text, kind))  # type: ignore[arg-type]

    async def _loop(self) -> Done:
        while True:
            await self._checkpoint()
            if self._stop_requested:
                return Done("interrupted", "stopped by the user")
            reason = self.budget.exhausted()
            if reason:
                return Done(reason, self.budget.describe_exhausted(reason))  # type: ignore[arg-type]
            try:
                completion = await self._model_step()
            except _Interrupted:
                if self._stop_requested:
                    return Done("interrupted", "stopped by the user")
                self._wait_for_user()
                continue
            except ModelError as err:
                # No answer came, so nothing was billed: the call is not a step.
                self.budget.steps -= 1
                self.emit(Notice(str(err), level="error"))
                return Done("error", str(err))
            if completion.tool_calls:
                await self._run_tools(completion.tool_calls)
                continue
            if not self._deliver_queued():
                return Done("finished", completion.content)

    async def _checkpoint(self) -> None:
        if self._interrupt_pending:
            self._interrupt_pending = False
            self._wait_for_user()
        if self._running.is_set():
            return
        self._set_state("waiting" if self._waiting_after_interrupt else "paused")
        # Time spent waiting for the user is not the model's time.
        self.budget.stop_clock()
        await self._running.wait()
        self.budget.start()

    def _wait_for_user(self) -> None:
        if self._stop_requested:  # stop() came with the interrupt: nothing to wait for
            return
        self._waiting_after_interrupt = True
        self._running.clear()

    def _deliver_notes(self) -> None:
        while self._notes:
            self._add_user(self._notes.pop(0), "note")

    def _deliver_steers(self) -> None:
        self._deliver_notes()
        while self._steers:
            self._add_user(self._steers.pop(0), "steer")

    def _deliver_queued(self) -> bool:
        if not self._queued and not self._steers:
            return False
        self._deliver_steers()
        while self._queued:
            self._add_user(self._queued.pop(0), "queued")
        return True

    async def _model_step(self) -> Completion:
        self._deliver_steers()
        self.budget.steps += 1
        self.emit(StepStarted(self.budget.steps))
        self._set_state("thinking")
        try:
            # Serialising the conversation is the costly part: once per step when possible.
            chars: int | None = self.compactor.estimator.chars(self.messages, self._tools)
            if self.compactor.over(chars):
                await self._compact()
                chars = None
            completion = await self._stream_with_overflow_retry(chars)
        except _Interrupted:
            self._keep_partial()
            raise
        self._name_calls(completion.tool_calls)
        self._record(completion)
        return completion

    async def _stream_with_overflow_retry(self, sent_chars: int | None) -> Completion:
        try:
            return await self._stream_once(sent_chars)
        except ModelError as err:
            if err.kind != "context_overflow":
                raise
            overflow = err
            self.budget.context_window = (
                window_from_overflow(str(err)) or self.budget.context_window
            )
            self.emit(Notice(f"{err}; compacting and trying once more", level="warning"))
        result = await self._compact(force=True)
        if not self._may_fit(result):
            # The same request would only be refused again (and billed, on some servers).
            raise ModelError(
                f"{overflow}. Compaction could not make the request small enough "
                f"(~{result.tokens_before:,} -> ~{result.tokens_after:,} tokens): the task "
                "and the latest steps alone are too big for this model's context window, "
                "so it was not sent again. Shorten the task (or what it pastes in), or use "
                "a model with a larger window.",
                kind="context_overflow",
                status=overflow.status,
            ) from overflow
        return await self._stream_once()

    @staticmethod
    def _may_fit(result: Compacted) -> bool:
        """Whether the compacted request differs from the one that overflowed.

        Only "nothing could be shortened or summarised" is certain: how the server
        counts tokens is known only roughly, so any real shrink earns one more try.
        """
        return result.tokens_after < result.tokens_before

    async def _stream_once(self, sent_chars: int | None = None) -> Completion:
        if sent_chars is None:
            sent_chars = self.compactor.estimator.chars(self.messages, self._tools)
        completion = await self._interruptible(
            self.client.stream(
                self.messages, self._tools, self.emit, time_left=self.budget.time_left
            )
        )
        if self._cancel_requested:
            # The answer completed in the instant the user interrupted: they still
            # asked to stop, so it is kept as a partial and its tool calls never run.
            raise _Interrupted
        if completion.usage is not None:
            self.compactor.estimator.calibrate(sent_chars, completion.usage.prompt)
        return completion

    async def _compact(self, *, force: bool = False) -> Compacted:
        result: Compacted = await self._interruptible(
            self.compactor.compact(self.messages, self._tools, self.applied_edits, force=force)
        )
        self.emit(Notice(result.describe()))
        if result.still_over(self.compactor.limit):
            pct = 100 * result.tokens_after / self.budget.context_window
            self.emit(
                Notice(
                    f"the latest steps alone fill {pct:.0f}% of the context window; "
                    "start a new task or raise context_window if the endpoint allows",
                    level="warning",
                )
            )
        return result

    async def _interruptible(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run one phase as a task that interrupt() may cancel without cancelling run()."""
        if self._interrupt_pending:
            self._interrupt_pending = False
            coro.close()
            raise _Interrupted
        self._cancel_requested = False
        task = asyncio.ensure_future(coro)
        self._current = task
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            self._current = None
        if task.cancelled():
            raise _Interrupted
        return task.result()

    def _keep_partial(self) -> None:
        """Keep what streamed before an interrupt, marked, without its tool calls."""
        partial = self.client.partial
        if not (partial.reasoning or partial.content):
            self.emit(Notice("interrupted before the model said anything"))
            return
        self._record_interrupted_usage(partial.reasoning, partial.content)
        content = f"{partial.content}\n\n{INTERRUPTED_MARK}".strip()
        self.messages.append(
            {"role": "assistant", "content": content, "reasoning_content": partial.reasoning}
        )
        if partial.reasoning:
            self.emit(Reasoning(partial.reasoning))
        self.emit(Content(content))
        self.emit(Notice("interrupted: the partial answer is kept and marked"))

    def _name_calls(self, calls: list[ToolCallDraft]) -> None:
        # A server that sends no id (or one id twice) still needs one per call:
        # every call is answered by id.
        seen: set[str] = set()
        for call in calls:
            if not call.id or call.id in seen:
                call.id = f"call_{self.budget.steps}_{call.index}"
            while call.id in seen:  # the server's own ids may look like ours
                call.id += "_"
            seen.add(call.id)

    def _record_interrupted_usage(self, reasoning: str, content: str) -> None:
        """A cut stream sends no usage, but the prompt was read and the text was
        generated: count an estimate rather than nothing."""
        estimator = self.compactor.estimator
        per_token = estimator.chars_per_token or 4.0
        thinking = round(len(reasoning) / per_token)
        usage = TokenUsage(
            prompt=estimator.tokens(self.messages, self._tools),
            completion=thinking + round(len(content) / per_token),
            reasoning=thinking,
        )
        self._report_usage(usage)

    def _report_usage(self, usage: TokenUsage) -> None:
        self.budget.record(usage)
        self.emit(
            UsageReport(
                prompt=usage.prompt,
                completion=usage.completion,
                reasoning=usage.reasoning,
                cached=usage.cached,
                total=usage.total,
                context_pct=self.budget.context_pct,
                session_total=self.budget.used.total,
                cost=self.budget.cost,
            )
        )

    def _record(self, completion: Completion) -> None:
        usage = completion.usage or self._estimate_usage(completion)
        if completion.reasoning:
            self.emit(Reasoning(completion.reasoning))
        if completion.content:
            self.emit(Content(completion.content))
        self._report_usage(usage)
        self.messages.append(assistant_message(completion))
        if completion.dropped_calls:
            self.emit(
                Notice(
                    f"the answer made {len(completion.tool_calls) + completion.dropped_calls:,} "
                    f"tool calls: kimitui kept the first {MAX_CALLS_KEPT} and runs at most "
                    f"{MAX_TOOL_CALLS}; the model is told the rest were not run",
                    level="warning",
                )
            )

    def _estimate_usage(self, completion: Completion) -> TokenUsage:
        """Some servers send no usage at all: count characters rather than nothing."""
        prompt = len(json.dumps(self.messages)) // 4
        visible = completion.content + "".join(c.arguments for c in completion.tool_calls)
        return TokenUsage(
            prompt=prompt,
            completion=(len(completion.reasoning) + len(visible)) // 4,
            reasoning=len(completion.reasoning) // 4,
        )

    async def _run_tools(self, calls: list[ToolCallDraft]) -> None:
        self._set_state("tools")
        interrupted = False
        for call in calls:
            if interrupted or self._stop_requested:
                self._answer(call, ok=False, output=NOT_RUN, started=time.monotonic())
                continue
            shown, refusal = self._examine(call)
            self.emit(ToolCall(call.id, call.name, shown))
            started = time.monotonic()
            try:
                if refusal is not None:
                    ok, output = False, refusal
                elif (repeats := self._count_repeat(call, shown)) >= REPEAT_LIMIT:
                    ok, output = False, REPEATING.format(n=repeats, name=call.name)
                else:
                    ok, output = await self._interruptible(self._execute(call))
            except _Interrupted:
                interrupted = True
                ok, output = False, CUT_SHORT
            self._answer(call, ok=ok, output=output, started=started)
        await self._commit_batch()
        if interrupted and not self._stop_requested:
            self._wait_for_user()

    async def _commit_batch(self) -> None:
        """``[git] auto_commit``: the edits this batch applied become one commit."""
        applied, self._batch_applied = self._batch_applied, []
        if applied and self.auto_commit is not None:
            text = await self.auto_commit([p for p, _ in applied], [s for _, s in applied])
            self.emit(Notice(text, level="info" if text.startswith("committed") else "warning"))

    def _examine(self, call: ToolCallDraft) -> tuple[Any, str | None]:
        """The call's arguments as shown, and why it must not run (None: it may)."""
        if call.oversized:
            shown = UNSHOWN.format(why=f"{call.oversized:,} characters")
            return shown, OVERSIZED.format(chars=call.oversized, limit=MAX_ARGUMENT_CHARS)
        shown = parse_arguments(call.arguments)
        if call.index >= MAX_TOOL_CALLS:
            return shown, TOO_MANY.format(limit=MAX_TOOL_CALLS)
        if shown == TOO_DEEP_SHOWN:
            return shown, TOO_DEEP.format(limit=MAX_JSON_DEPTH)
        return shown, None  # malformed JSON included: the toolbox explains that itself

    def _count_repeat(self, call: ToolCallDraft, shown: Any) -> int:
        """How many times in a row this exact call has now been made."""
        signature = (call.name, json.dumps(shown, sort_keys=True))
        self._repeats = self._repeats + 1 if signature == self._last_call else 1
        self._last_call = signature
        return self._repeats

    def _answer(self, call: ToolCallDraft, *, ok: bool, output: str, started: float) -> None:
        self.messages.append({"role": "tool", "tool_call_id": call.id, "content": output})
        duration = round(time.monotonic() - started, 3)
        self.emit(ToolOutput(call.id, call.name, ok, output, duration))

    async def _execute(self, call: ToolCallDraft) -> tuple[bool, str]:
        result = await self.toolbox.call(call.id, call.name, call.arguments)
        edit = result.edit
        if edit is None:
            return result.ok, result.output
        self.emit(
            EditProposed(
                edit.id,
                edit.path,
                edit.diff,
                edit.added,
                edit.removed,
                new_file=edit.old_text is None,
                unread_overwrite=edit.unread_overwrite,
            )
        )
        self._set_state("review")
        # The time budget is the model's: the minutes the user reads a diff are not.
        self.budget.stop_clock()
        try:
            decision = await self.gate.review(edit)
        finally:
            self.budget.start()
        output = apply_decision(
            self.toolbox.workspace, edit, decision, on_write=self.on_edit_applied
        )
        if decision.verdict != "rejected" and "NOT applied" not in output:
            # Kept verbatim through compaction: the model must never forget its edits.
            self.applied_edits.append(f"{edit.path}: {output.splitlines()[0]}")
            self._batch_applied.append((edit.path, output.splitlines()[0]))
        self.emit(
            EditDecided(
                edit.id, edit.path, decision.verdict, list(decision.hunks), decision.feedback
            )
        )
        self._set_state("tools")
        return decision.verdict != "rejected", output
