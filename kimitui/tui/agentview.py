"""What the engine says, drawn: agent events into the thinking pane, the tool
pane, the transcript and the tree. Streamed fragments are buffered and flushed
at most every FLUSH_S seconds (10 Hz), so the screen costs the same whatever rate
the model streams at.
"""

from __future__ import annotations

from rich.style import Style
from textual.css.query import NoMatches

from kimitui.core import events as ev
from kimitui.tui.commandreview import live_output
from kimitui.tui.history import heading
from kimitui.tui.host import AppHost
from kimitui.tui.mentions import shorten_attachments
from kimitui.tui.textview import Block, shown
from kimitui.tui.toolpane import VERDICT_STATUS, ToolRecord, settled

FLUSH_S = 0.1  # streamed text reaches the screen at most 10 times a second
BUDGETS = frozenset({"max_steps", "token_budget", "time_budget", "cost_budget"})


class AgentView(AppHost):
    """One job of KimiApp (not an app of its own): the Agent's events on screen."""

    def _replay_history(self) -> None:
        """A resumed session's earlier steps, collapsed, above anything new."""
        if not self.history:
            return
        quiet = Style(dim=True, italic=True)
        self.transcript.add(Block(heading(self.history), style=quiet))
        with self.batch_update():
            for event in self.history:
                self._apply(event)
            self._finish_step()
        self._answer = None
        self.transcript.add(Block("── resumed here ──", style=quiet))

    def _on_agent_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.StateChanged):
            # Kept even before the app runs: keys must act on the loop as it is.
            self.loop_state = event.state
        if self._shutting_down or not self.is_running:
            return
        if event.streaming:
            self._buffer(event)
            return
        self._flush_stream()
        try:
            with self.batch_update():
                self._apply(event)
        except NoMatches:  # the screen is going away
            return

    def _buffer(self, event: ev.Event) -> None:
        if isinstance(event, ev.ReasoningDelta):
            self._buffers["reasoning"].append(event.text)
        elif isinstance(event, ev.ContentDelta):
            self._buffers["content"].append(event.text)
        elif isinstance(event, ev.CommandOutputDelta):
            live_output(self, event)
            return
        else:
            return
        if self._flush_timer is None:
            self._flush_timer = self.set_timer(FLUSH_S, self._flush_stream, name="stream-flush")

    def _flush_stream(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        reasoning = "".join(self._buffers["reasoning"])
        content = "".join(self._buffers["content"])
        self._buffers["reasoning"].clear()
        self._buffers["content"].clear()
        try:
            if reasoning:
                self.reasoning.append(reasoning)
            if content:
                self.transcript.extend(self._answer_block(), content)
        except NoMatches:  # the timer fired as the screen went away (quit mid-stream)
            return

    def _answer_block(self) -> Block:
        if self._answer is None:
            self._answer = self.transcript.add(
                Block("", prefix="kimi ▸ ", prefix_style=self._style("primary", bold=True))
            )
        return self._answer

    def _apply(self, event: ev.Event) -> None:
        match event:
            case ev.StepStarted():
                self._new_step(event.n)
            case ev.Reasoning():
                self._step_reasoning(event.text)
            case ev.Content():
                self.transcript.replace(self._answer_block(), event.text)
            case ev.ToolCall():
                self._tool_call(event)
            case ev.ToolOutput():
                self._tool_output(event)
            case ev.EditProposed():
                self._edit_proposed(event)
            case ev.EditDecided():
                self._edit_decided(event)
            case ev.UsageReport():
                self.meter.show(self.agent.budget)
            case ev.UserMessage():
                self._user_message(event)
            case ev.RetryScheduled():
                self._discard_attempt()
                self._notice(
                    f"retry {event.attempt}: {event.reason}; retrying in {event.wait_s:g} s",
                    "warning",
                )
            case ev.Notice():
                self._notice(event.text, event.level)
            case ev.StateChanged():
                self.loop_state = event.state
                self._show_state()
            case ev.Done():
                self._done(event)

    def _discard_attempt(self) -> None:
        """A failed attempt's partial text stays visible, struck through; the retry starts fresh."""
        struck = Style(strike=True, dim=True)
        view = self.reasoning
        if view.blocks and view.blocks[-1].text:
            view.blocks[-1].style = struck
            view.add(Block("", style=Style(italic=True)))
            view.repaint_blocks()
        if self._answer is not None and self._answer.text:
            self._answer.style = struck
            self._answer.prefix = "kimi (discarded, retrying) ▸ "
            self._answer.invalidate()
            self.transcript.repaint_blocks()
        self._answer = None

    def _new_step(self, n: int) -> None:
        self._finish_step()
        self._step, self._step_tools, self._answer = n, [], None
        self.reasoning.clear()
        self.reasoning.add(Block("", style=Style(italic=True)))
        self.reasoning.border_title = f"thinking · step {n}"
        self._step_block = self.transcript.add(
            Block(
                "",
                style=Style(dim=True, italic=True),
                summary=f"step {n} · thinking…",
                collapsed=True,
                prefix_style=Style(dim=True),
            )
        )
        self.meter.show(self.agent.budget)
        self._show_state()

    def _step_reasoning(self, text: str) -> None:
        if self._step_block is not None:
            self.transcript.replace(self._step_block, text)
            self._summarise_step()
        view = self.reasoning
        if view.blocks and view.blocks[-1].text != shown(text):
            view.replace(view.blocks[-1], text)

    def _summarise_step(self) -> None:
        block = self._step_block
        if block is None:
            return
        parts = [f"step {self._step}"]
        if block.text:
            parts.append(f"thought {len(block.text):,} chars")
        if self._step_tools:
            parts.append(", ".join(self._step_tools))
        block.summary = " · ".join(parts)
        self.transcript.repaint_blocks()

    def _finish_step(self) -> None:
        if self._step_block is not None and not self._step_block.text:
            self._summarise_step()

    def _tool_call(self, event: ev.ToolCall) -> None:
        # A resumed session runs a cut call again under its id: one row, listed once.
        again = self.tools.records.get(event.id)
        step = again.step if again is not None else self._step
        record = ToolRecord(event.id, step, event.name, event.arguments)
        self.tools.upsert(record)
        if again is None:
            self._step_tools.append(f"{event.name}({record.key_argument[:24]})")
            self._summarise_step()

    def _tool_output(self, event: ev.ToolOutput) -> None:
        record = self.tools.records.get(event.id)
        if record is None:
            record = ToolRecord(event.id, self._step, event.name, {})
        record.status = settled(record.status, event.ok, event.output)
        record.output = event.output
        record.duration = event.duration_s
        self.tools.upsert(record)
        path = record.arguments.get("path") if isinstance(record.arguments, dict) else None
        if event.ok and event.name == "read_file" and isinstance(path, str):
            self.project_tree.mark(path.lstrip("./") or path, "read")

    def _edit_proposed(self, event: ev.EditProposed) -> None:
        record = self.tools.records.get(event.id)
        if record is not None:
            record.status = "review"
            self.tools.upsert(record)
        self.project_tree.mark(event.path, "pending")

    def _edit_decided(self, event: ev.EditDecided) -> None:
        record = self.tools.records.get(event.id)
        if record is not None:
            record.status = VERDICT_STATUS.get(event.verdict, record.status)
            self.tools.upsert(record)
        self.project_tree.mark(event.path, "pending", on=False)
        if event.verdict != "rejected":
            self.tracker.own_write(event.path)
            self.project_tree.mark(event.path, "outside", on=False)
            self.project_tree.mark(event.path, "ours")

    def _user_message(self, event: ev.UserMessage) -> None:
        label = {
            "task": "you ▸ ",
            "steer": "you (steer) ▸ ",
            "queued": "you (queued) ▸ ",
            "note": "kimitui (note) ▸ ",
        }
        style = self._style("accent", bold=True)
        # Attached files are in the conversation; here each is one line naming it.
        text = shorten_attachments(event.text)
        self.transcript.add(Block(text, prefix=label[event.kind], prefix_style=style))
        self.composer.show_pending(self.agent.pending_messages)

    def start_fresh(self) -> None:
        """/clear: the model forgets; the screen keeps the old steps, marked as past."""
        self._finish_step()
        self._step, self._step_block, self._answer = 0, None, None
        self.reasoning.clear()
        quiet = Style(dim=True, italic=True)
        self.transcript.add(
            Block("── new conversation: the model remembers nothing above ──", style=quiet)
        )
        self._show_state()

    def _notice(self, text: str, level: str = "info") -> None:
        mark = {"warning": "! ", "error": "✗ "}.get(level, "· ")
        style = self._style(level) if level in ("warning", "error") else Style(italic=True)
        bold = style + Style(bold=True)
        self.transcript.add(Block(text, style=style, prefix=mark, prefix_style=bold))

    def _done(self, event: ev.Done) -> None:
        self._finish_step()
        self._step = self.agent.budget.steps  # a call that failed unanswered was no step
        self.meter.show(self.agent.budget)
        if event.reason in BUDGETS:
            self.budget_out = event.reason
            self._notice(
                f"{event.message}. Press ctrl+r to raise it and continue, or give a new task.",
                "warning",
            )
        elif event.reason == "finished":
            self._notice("finished: type a follow-up task to continue the conversation")
        elif event.reason == "interrupted":
            self._notice(f"run ended: {event.message}", "warning")
        elif not self._last_notice_is(event.message):
            self._notice(event.message, "error")
        self._show_state()

    def _last_notice_is(self, text: str) -> bool:
        blocks = self.transcript.blocks
        return bool(blocks) and blocks[-1].text == shown(text)
