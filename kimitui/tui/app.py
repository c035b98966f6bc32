"""KimiApp: the Textual front end over one Agent.

The App owns the Agent: it subscribes to its events, runs it in a named
worker, and is the only place that calls its controls. Widgets render state
and post messages. Streamed fragments are buffered and flushed to the panes
at most every FLUSH_S seconds (10 Hz), so the screen costs the same whatever
rate the model streams at.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import ClassVar

from rich.style import Style
from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.filter import LineFilter
from textual.screen import ModalScreen, Screen
from textual.theme import Theme
from textual.timer import Timer
from textual.widgets import DirectoryTree, Footer, Input, Static, TextArea

from kimitui.config import ConfigError, config_path
from kimitui.core import events as ev
from kimitui.core.gate import AskGate
from kimitui.core.journal import Journal
from kimitui.core.loop import Agent
from kimitui.core.transcript import SessionError
from kimitui.quitsummary import resume_command
from kimitui.tui.approval import approval_label as label_for
from kimitui.tui.commandreview import ask_command, live_output
from kimitui.tui.commands import export_session, palette_commands, raise_limit
from kimitui.tui.commitreview import ask_commit
from kimitui.tui.composer import Composer
from kimitui.tui.dialogs import QuitScreen, RunApprovalScreen, WaitOrStopScreen
from kimitui.tui.diffrows import warm_up
from kimitui.tui.githeader import watch_git
from kimitui.tui.help import HelpScreen
from kimitui.tui.history import heading
from kimitui.tui.mcpstatus import McpAsker, McpStatusLine
from kimitui.tui.messages import (
    ComposerSubmitted,
    FilesChanged,
    PendingRecalled,
    ReviewDecided,
    ReviewsChanged,
    ToolRowChosen,
    WatchProblem,
)
from kimitui.tui.meter import BudgetMeter
from kimitui.tui.preview import FilePreviewScreen
from kimitui.tui.review import BEHIND, ReviewScreen
from kimitui.tui.safety import ControlFilter, plain
from kimitui.tui.statusbar import StatusBar
from kimitui.tui.textview import Block, TextView, shown
from kimitui.tui.themes import DEFAULT_THEME, VARIABLE_DEFAULTS, LoadedThemes, load_themes
from kimitui.tui.toolpane import VERDICT_STATUS, ToolDetailScreen, ToolPane, ToolRecord, settled
from kimitui.tui.tree import LEGEND, ProjectTree
from kimitui.tui.watch import ChangeTracker, watch_project

FLUSH_S = 0.1  # streamed text reaches the screen at most 10 times a second
ACTIVE = frozenset({"thinking", "tools", "review", "paused", "waiting", "retrying"})
INTERRUPTIBLE = frozenset({"thinking", "tools", "review", "retrying"})
BUDGETS = frozenset({"max_steps", "token_budget", "time_budget", "cost_budget"})
PLACEHOLDERS = {
    "task": "What should the model do? (Enter starts)",
    "steer": "Message the model: delivered before its next step (Enter)",
    "waiting": "Interrupted: tell the model what to do instead (Enter), or ctrl+s to continue",
    "followup": "Follow-up task in the same conversation (Enter)",
    "budget": "Budget used up: ctrl+r raises it and continues",
}
TYPING_S = 1.5  # a key typed in the composer this recently: the user is writing a message


class KimiApp(App[int]):
    """Reasoning, tool calls and transcript of one Agent, with a file tree and a meter."""

    CSS_PATH: ClassVar = ["app.tcss", "review.tcss", "dialogs.tcss"]
    TITLE = "kimitui"
    # Only control keys act on the main screen: a printable key is always text, and
    # one typed on another pane goes to the composer (see _route_key), so no letter
    # can pause, undo or open anything.
    BINDINGS: ClassVar = [
        Binding("escape", "interrupt", "interrupt"),
        Binding("escape", "end_run", "end run"),
        Binding("escape", "focus_composer", "composer", show=False),
        Binding("ctrl+s", "pause", "pause", priority=True),
        Binding("ctrl+s", "resume", "resume", priority=True),
        Binding("ctrl+r", "raise_budget", "raise budget", priority=True),
        Binding("ctrl+x", "cancel_pending", "cancel pending", priority=True),
        Binding("up", "recall_pending", "edit pending", key_display="↑", show=False),
        Binding("ctrl+o", "toggle_steps", "steps"),
        Binding("ctrl+z", "undo", "undo edit", priority=True),
        Binding("ctrl+t", "toggle_auto_approve", "auto-approve", show=False, priority=True),
        Binding("ctrl+g", "open_review", "review edit", priority=True),
        Binding("ctrl+g", "look_behind", "conversation", priority=True),
        Binding("ctrl+l", "focus_composer", "composer", show=False, priority=True),
        Binding("f1", "help", "help", priority=True),
    ]

    def __init__(
        self,
        agent: Agent,
        *,
        task: str | None = None,
        approval_label: str = "auto",
        notices: Sequence[tuple[str, str]] = (),
        project_name: str | None = None,
        watch: bool = True,
        theme_name: str | None = None,
        continue_run: bool = False,
        journal: Journal | None = None,
        themes: LoadedThemes | None = None,
        remember_theme: Callable[[str], None] | None = None,
        transcript_path: Path | None = None,
        history: Sequence[ev.Event] = (),
    ) -> None:
        super().__init__()
        self.history = list(history)  # a resumed session's earlier steps
        # A resumed session cut mid-task continues without waiting for a new task.
        self.continue_run = continue_run
        self.theme_name = theme_name
        self.remember_theme = remember_theme
        self.transcript_path = transcript_path
        self.agent = agent
        self.project = Path(agent.project)
        self.project_name = project_name or self.project.name
        self.first_task = task
        self.approval_label = label_for(agent.gate, approval_label)
        self.startup_notices = list(notices)
        self._install_themes(themes if themes is not None else load_themes())
        self.watch_enabled = watch
        self.loop_state: str = "idle"
        self.run_active = False
        self.budget_out: str | None = None
        self.tracker = ChangeTracker(self.project)
        self._buffers: dict[str, list[str]] = {"reasoning": [], "content": []}
        self._flush_timer: Timer | None = None
        self._step = 0
        self._step_block: Block | None = None
        self._step_tools: list[str] = []
        self._answer: Block | None = None
        self._shutting_down = False
        self._watch_stop = asyncio.Event()
        self._review: ReviewScreen | None = None
        self._run_asked: str | None = None  # call id of the run being asked about
        self.mcp_asker = McpAsker(self)  # MCP calls waiting at the gate, one dialog at a time
        self._control_filter = ControlFilter()
        self._gate_behind = False  # an edit waits while the user looks at the conversation
        self._kept_hunks: dict[str, set[int]] = {}  # hunk choices kept while behind
        self._bindings_shown: tuple[object, ...] = ()
        # Every applied edit is journaled, so ctrl+z can take it back.
        self.journal = journal or Journal.for_session(agent.client.session_id, agent.project)
        agent.on_edit_applied = self.journal.record
        agent.client.confirm_wait = self._confirm_wait

    # -- layout ----------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar(
            self.project_name,
            self.agent.client.config.model,
            self.approval_label,
            sandbox=self.agent.toolbox.sandbox.level.name,
            id="status",
        )
        with Horizontal(id="body"):
            with Vertical(id="side"):
                yield ProjectTree(self.project, id="tree")
                yield Static(LEGEND, id="legend", markup=False)
                yield BudgetMeter(id="meter")
                yield McpStatusLine(id="mcp-status")
            with Vertical(id="main"):
                yield TextView(id="reasoning")
                yield ToolPane(id="tools")
                yield TextView(id="transcript")
        yield Composer(id="composer")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._titles()
        self.agent.subscribe(self._on_agent_event)
        if self.ask_gate is not None:
            self.agent.subscribe(self.ask_gate.observe)
            self.ask_gate.subscribe(self._gate_changed)
            # The first review must not pay for loading pygments' lexer map.
            self.run_worker(
                warm_up, name="warm-highlighting", group="warmup", thread=True, exit_on_error=False
            )
        self.meter.show(self.agent.budget)
        self.set_interval(1.0, self._tick, name="meter-clock")
        if self.agent.toolbox.extra is not None:  # MCP servers: their line under the meter
            self.agent.toolbox.extra.watch(self.query_one(McpStatusLine).show)
        self._replay_history()
        for level, text in self.startup_notices:
            self._notice(text, level)
        self.composer.show_pending([])
        self._show_state()
        watch_git(self)
        self.composer.input.focus()
        if self.watch_enabled:
            # Setting up the watches holds the loop (0.2 s on 50,000 files): after the first frame.
            self.call_after_refresh(self._watch_files)
        if self.first_task or self.continue_run:
            self._start_run(self.first_task)

    def get_line_filters(self) -> Sequence[LineFilter]:
        # The backstop behind the widgets' own escaping: no control reaches the terminal.
        return [*super().get_line_filters(), self._control_filter]

    # -- themes ------------------------------------------------------------

    def get_theme_variable_defaults(self) -> dict[str, str]:
        # Textual's own themes lack kimitui's variables; the stylesheet needs them all.
        return {**super().get_theme_variable_defaults(), **VARIABLE_DEFAULTS}

    def _install_themes(self, loaded: LoadedThemes) -> None:
        for theme in loaded.themes:
            self.register_theme(theme)
        for problem in loaded.problems:
            self.startup_notices.append(("warning", f"theme file skipped: {problem}"))
        wanted = self.theme_name or DEFAULT_THEME
        if wanted not in self.available_themes:
            names = ", ".join(sorted(self.available_themes))
            self.startup_notices.append(
                ("warning", f"unknown theme {wanted!r}, using the default; available: {names}")
            )
            wanted = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
        self.theme = wanted
        self._saved_theme = wanted

    def _theme_changed(self, theme: Theme) -> None:
        """A theme chosen in the palette is remembered in config.toml."""
        if self.remember_theme is None or theme.name == self._saved_theme:
            return
        self._saved_theme = theme.name
        try:
            self.remember_theme(theme.name)
        except (OSError, ConfigError) as err:
            self._notice(f"theme {theme.name!r} not saved: {err}", "warning")
            return
        self._notice(f"theme {theme.name!r} saved as [ui] theme in {config_path()}")

    def _titles(self) -> None:
        tree = self.query_one(ProjectTree)
        tree.border_title = plain(self.project_name)  # a folder name, not markup
        self.meter.border_title = "budget"
        self.reasoning.border_title = "thinking"
        self.tools.border_title = "tool calls (enter: details)"
        self.transcript.border_title = "transcript"

    @property
    def ask_gate(self) -> AskGate | None:
        gate = self.agent.gate
        return gate if isinstance(gate, AskGate) else None

    @property
    def reasoning(self) -> TextView:
        return self.query_one("#reasoning", TextView)

    @property
    def transcript(self) -> TextView:
        return self.query_one("#transcript", TextView)

    @property
    def tools(self) -> ToolPane:
        return self.query_one(ToolPane)

    @property
    def meter(self) -> BudgetMeter:
        return self.query_one(BudgetMeter)

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    @property
    def project_tree(self) -> ProjectTree:
        return self.query_one(ProjectTree)

    # -- styles ----------------------------------------------------------

    def _style(self, name: str, **extra: bool) -> Style:
        color = getattr(self.current_theme, name, None)
        return Style(color=color, **extra) if color else Style(**extra)

    # -- running the agent -------------------------------------------------

    def _start_run(self, task: str | None) -> None:
        self.run_active = True
        self.budget_out = None
        self._show_state()
        self.run_worker(
            self._run(task), name="agent-run", group="agent", exclusive=True, exit_on_error=False
        )

    async def _run(self, task: str | None) -> None:
        try:
            await self.agent.run(task)
        finally:
            self.run_active = False
            if not self._shutting_down:
                self._show_state()

    @work(name="file-watcher", group="watch", exclusive=True, exit_on_error=False)
    async def _watch_files(self) -> None:
        await watch_project(
            self.project,
            self.tracker,
            self.post_message,
            lambda text: self.post_message(WatchProblem(text)),
            self._watch_stop,
        )

    async def action_quit(self) -> None:
        waiting = self._waiting_edit()
        if waiting and not isinstance(self.screen, QuitScreen):
            self.push_screen(QuitScreen(waiting), self._quit_answered)
            return
        self._quit_now()

    def _waiting_edit(self) -> str:
        gate = self.ask_gate
        current = gate.current if gate is not None else None
        return current.edit.path if current is not None else ""

    def _quit_answered(self, quit_now: bool | None) -> None:
        if quit_now:
            self._quit_now()

    def _quit_now(self) -> None:
        self._shutting_down = True
        self._watch_stop.set()
        self.agent.stop()
        self.exit(0)  # the launcher prints the summary and the resume command

    def resume_command(self) -> str:
        """The command that brings this session back, or "" when it is not saved."""
        return resume_command(self.agent.client.session_id, self.transcript_path)

    async def on_unmount(self) -> None:
        self._shutting_down = True
        self._watch_stop.set()
        self.agent.stop()
        with contextlib.suppress(Exception):
            await self.agent.client.close()

    # -- agent events ------------------------------------------------------

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
        self.transcript.add(Block(event.text, prefix=label[event.kind], prefix_style=style))
        self.composer.show_pending(self.agent.pending_messages)

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

    # -- state, footer, placeholder ------------------------------------------

    def _display_state(self) -> str:
        if self.budget_out and not self.run_active:
            return "budget"
        if (
            self.loop_state in ACTIVE
            and self.agent.paused
            and self.loop_state not in ("paused", "waiting")
        ):
            return "pausing"
        return self.loop_state

    def _show_state(self) -> None:
        if self._shutting_down:
            return
        with contextlib.suppress(NoMatches):
            self.query_one(StatusBar).show(self._display_state(), self._step)
            self.composer.input.placeholder = PLACEHOLDERS[self._composer_mode()]
            self._refresh_bindings_if_changed()

    def _refresh_bindings_if_changed(self) -> None:
        """The footer follows the state, but redrawing it mounts a dozen widgets (the
        loop changes state several times a step): only when a key came or went."""
        actions = sorted(self._own_actions | self._gate_actions)
        shown = (self.screen, *(self.check_action(a, ()) for a in actions))
        if shown != self._bindings_shown:
            self._bindings_shown = shown
            self.refresh_bindings()

    def _composer_mode(self) -> str:
        if self.budget_out and not self.run_active:
            return "budget"
        if self.loop_state == "waiting":
            return "waiting"
        if self.is_active:
            return "steer"
        return "followup" if self._step else "task"

    @property
    def is_active(self) -> bool:
        return self.run_active or self.loop_state in ACTIVE

    def _tick(self) -> None:
        if self.is_active and self.loop_state not in ("paused", "waiting"):
            self.meter.show(self.agent.budget)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "help":  # F1 works on every screen but its own
            return not isinstance(self.screen, HelpScreen)
        if action in self._gate_actions:
            return self._gate_action_allowed(action)
        if isinstance(self.screen, ModalScreen) and action not in ("quit",):
            return action not in self._own_actions
        rules = {
            # Also before the first model call, while a run is starting; an edit
            # waiting behind the conversation is decided in the review, not by Esc.
            "interrupt": lambda: (
                not self._gate_behind
                and (
                    self.loop_state in INTERRUPTIBLE
                    or (self.run_active and self.loop_state not in ("paused", "waiting"))
                )
            ),
            "end_run": lambda: self.loop_state in ("paused", "waiting"),
            "pause": lambda: self.is_active and not self.agent.paused,
            "resume": lambda: self.is_active and self.agent.paused,
            "raise_budget": lambda: bool(self.budget_out) and not self.run_active,
            "cancel_pending": lambda: bool(self.agent.pending_messages),
            "recall_pending": lambda: bool(self.agent.pending_messages),
            # With a draft in the composer, ctrl+z undoes typing, never a file.
            "undo": lambda: self.journal.last is not None and not self._drafting(),
            "toggle_auto_approve": lambda: self.ask_gate is not None,
        }
        rule = rules.get(action)
        return True if rule is None else rule()

    _own_actions = frozenset(
        {
            "interrupt",
            "end_run",
            "pause",
            "resume",
            "raise_budget",
            "cancel_pending",
            "recall_pending",
            "toggle_steps",
            "undo",
        }
    )
    _gate_actions = frozenset({"open_review", "look_behind", "focus_composer"})

    def _gate_action_allowed(self, action: str) -> bool:
        on_review = isinstance(self.screen, ReviewScreen)
        on_main = len(self.screen_stack) == 1
        if action == "look_behind":
            return on_review
        if action == "focus_composer":
            return on_review or (on_main and not self.composer.input.has_focus)
        gate = self.ask_gate
        return on_main and gate is not None and gate.current is not None

    # -- actions ---------------------------------------------------------

    def action_interrupt(self) -> None:
        self.agent.interrupt()

    def action_end_run(self) -> None:
        self.agent.stop()

    def action_pause(self) -> None:
        self.agent.pause()
        self._show_state()

    def action_resume(self) -> None:
        self.agent.resume()
        self._show_state()

    def action_raise_budget(self, which: str = "") -> None:
        """Raise the budget that ran out (or ``which``), and continue a run it stopped."""
        stopped = bool(self.budget_out) and not self.run_active
        what = raise_limit(self.agent.budget, which or self.budget_out or "")
        if what is None:
            return
        self.meter.show(self.agent.budget)
        if stopped and (not which or which == self.budget_out):
            self._notice(f"{what}; continuing")
            self._start_run(None)
        else:
            self._notice(what)
        self.refresh_bindings()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_toggle_reasoning(self) -> None:
        pane = self.reasoning
        pane.display = not pane.display

    def action_export(self) -> None:
        path = self.transcript_path
        if path is None or not path.exists():
            self._notice("this session is not saved, so there is nothing to export", "warning")
            return
        try:
            target = export_session(path)
        except (OSError, SessionError) as err:
            self._notice(f"export failed: {err}", "warning")
            return
        self.copy_to_clipboard(str(target))
        self._notice(f"transcript exported to {target} (path copied to the clipboard)")

    def action_config_location(self) -> None:
        path = config_path()
        exists = "" if path.exists() else " (not created yet)"
        self.copy_to_clipboard(str(path))
        self._notice(f"config file: {path}{exists}; path copied to the clipboard")

    async def _confirm_wait(self, wait_s: float, reason: str) -> bool:
        """The engine asks before a long Retry-After wait: a modal with Wait / Stop."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def answered(wait: bool | None) -> None:
            if not future.done():
                future.set_result(bool(wait))

        self.push_screen(WaitOrStopScreen(wait_s, reason), answered)
        return await future

    def action_cancel_pending(self) -> None:
        pending = self.agent.pending_messages
        if pending and self.agent.cancel_pending(pending[-1]):
            self._notice(f"withdrawn before delivery: {pending[-1]}")
        self.composer.show_pending(self.agent.pending_messages)
        self.refresh_bindings()

    def action_recall_pending(self) -> None:
        self.composer.action_recall()

    def action_toggle_steps(self) -> None:
        view = self.transcript
        any_collapsed = any(b.collapsed for b in view.blocks if b.collapsible)
        view.set_all_collapsed(not any_collapsed)

    # -- widget messages -------------------------------------------------------

    @on(ComposerSubmitted)
    def _submitted(self, message: ComposerSubmitted) -> None:
        if self.budget_out and not self.run_active:
            self.composer.input.value = message.text
            self._notice(
                "the budget is used up: press ctrl+r to raise it, then send your message",
                "warning",
            )
        elif self.is_active:
            self.agent.steer(message.text)
            self.composer.show_pending(self.agent.pending_messages)
        else:
            self._start_run(message.text)
        if self._gate_behind:
            self._open_review(guarded=True)  # the message is out: now the edit waiting
        self.refresh_bindings()

    @on(TextArea.Changed, "#composer-input")
    def _typing(self, message: TextArea.Changed) -> None:
        # A draft turns ctrl+z into typing undo and ↑ into a cursor key: the footer follows.
        self._refresh_bindings_if_changed()

    @on(PendingRecalled)
    def _recalled(self, message: PendingRecalled) -> None:
        if self.agent.cancel_pending(message.text):
            self.composer.input.value = message.text
        self.composer.show_pending(self.agent.pending_messages)
        self.refresh_bindings()

    @on(ToolRowChosen)
    def _tool_chosen(self, message: ToolRowChosen) -> None:
        record = self.tools.records.get(message.call_id)
        if record is not None:
            self.push_screen(ToolDetailScreen(record), self._back_to_composer)

    @on(DirectoryTree.FileSelected)
    def _file_chosen(self, message: DirectoryTree.FileSelected) -> None:
        rel = message.path.relative_to(self.project).as_posix()
        self.push_screen(FilePreviewScreen(message.path, rel), self._back_to_composer)

    def _back_to_composer(self, _: object = None) -> None:
        """A closed detail view hands the keys back to the composer, not to the pane
        it was opened from (where typed text would be lost)."""
        self.call_after_refresh(self.composer.input.focus)

    @on(TextView.BlockClicked, "#transcript")
    def _block_clicked(self, message: TextView.BlockClicked) -> None:
        message.view.toggle(message.index)

    @on(FilesChanged)
    def _files_changed(self, message: FilesChanged) -> None:
        for rel in message.outside:
            self.project_tree.mark(rel, "outside")
        if message.structure or message.outside:
            self.project_tree.reload()

    @on(WatchProblem)
    def _watch_problem(self, message: WatchProblem) -> None:
        self._notice(message.text, "warning")

    # -- the review gate and undo ------------------------------------------------

    def _gate_changed(self) -> None:
        if not self._shutting_down and self.is_running:
            self.post_message(ReviewsChanged())

    @on(ReviewsChanged)
    def _reviews_changed(self) -> None:
        gate = self.ask_gate
        if gate is None or self._shutting_down:
            return
        self._ask_run(gate)
        self.mcp_asker.check(gate)
        ask_commit(self, gate)
        if self._review is not None:
            self._review.sync()
        elif gate.current is None:
            self._gate_behind = False
            self._kept_hunks.clear()
        elif self._gate_behind or self._typing_now():
            # Someone writing a message is not interrupted: the edit waits, said
            # above the composer, until ctrl+g opens it.
            self._gate_behind = True
        else:
            self._open_review(guarded=True)
        self._show_gate_line()
        self._refresh_bindings_if_changed()

    def _ask_run(self, gate: AskGate) -> None:
        """An unconfined run waits for a yes or no, one at a time."""
        if self._run_asked is not None or not gate.run_reviews:
            return
        request = gate.run_reviews[0].request
        self._run_asked = request.call_id

        def answered(refusal: str | None) -> None:
            self._run_asked = None
            gate.decide_run(request.call_id, refusal)

        if request.tool == "run_command":
            ask_command(self, request, answered)
            return
        self.push_screen(RunApprovalScreen(request), answered)

    def _drafting(self) -> bool:
        box = self.composer.input
        return box.has_focus and bool(box.text)

    def _typing_now(self) -> bool:
        """A draft in the composer, or a key typed there just now: someone is writing."""
        box = self.composer.input
        recent = time.monotonic() - box.last_key_at < TYPING_S
        return len(self.screen_stack) == 1 and box.has_focus and (recent or bool(box.text))

    def _open_review(self, *, guarded: bool) -> None:
        gate = self.ask_gate
        if gate is None or gate.current is None or self._review is not None:
            return
        self._gate_behind = False
        self._review = ReviewScreen(
            gate, self.agent.toolbox.workspace, guarded=guarded, kept=self._kept_hunks
        )
        self.push_screen(self._review, self._review_closed)
        self._show_gate_line()

    def _show_gate_line(self) -> None:
        gate = self.ask_gate
        current = gate.current if gate is not None else None
        text = ""
        if current is not None and self._review is None:
            more = len(gate.pending) - 1 if gate is not None else 0
            extra = f" (and {more} more)" if more > 0 else ""
            path = current.edit.path
            text = f"✎ the edit to {path}{extra} waits for your review · ctrl+g opens it"
        with contextlib.suppress(NoMatches):
            self.composer.show_gate(text)

    def _review_closed(self, result: str | None) -> None:
        self._review = None
        gate = self.ask_gate
        if result == BEHIND:
            self._gate_behind = True
            self.call_after_refresh(self.composer.input.focus)
        elif gate is not None and gate.current is not None:
            self.post_message(ReviewsChanged())
        if not self._shutting_down:
            self._show_gate_line()
            self._refresh_bindings_if_changed()

    def action_open_review(self) -> None:
        self._open_review(guarded=False)

    def action_look_behind(self) -> None:
        if isinstance(self.screen, ReviewScreen):
            self.screen.go_behind()

    def action_focus_composer(self) -> None:
        if isinstance(self.screen, ReviewScreen):
            self.screen.go_behind()  # closing it focuses the composer
        else:
            self.composer.input.focus()

    # -- where a key lands ---------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded and not self._route_key(event):
            return
        if isinstance(event, events.Paste) and not event.is_forwarded and self._paste_aside():
            self.composer.input.post_message(events.Paste(event.text))
            return
        await super().on_event(event)

    def _paste_aside(self) -> bool:
        """A paste with no text box to take it goes to the composer, whole."""
        if len(self.screen_stack) == 1:
            return not isinstance(self.focused, TextArea | Input)
        screen = self.screen
        if isinstance(screen, ReviewScreen) and screen.first_hold and not screen.key_guard.armed:
            screen.go_behind()
            return True
        return False

    def _route_key(self, event: events.Key) -> bool:
        """False when the key was dealt with here: held by a screen that just opened
        by itself, or text typed on a pane that takes no text, moved to the composer."""
        screen = self.screen
        guard = getattr(screen, "key_guard", None)
        if guard is not None and not guard.allows(event.key, event.time):
            if event.is_printable and isinstance(screen, ReviewScreen) and screen.first_hold:
                # Typing went on as the review opened: it steps aside, the text stays text.
                self._type_into_composer(event)
                screen.go_behind()
            return False
        if len(self.screen_stack) != 1 or not event.is_printable or event.key == "space":
            return True
        if isinstance(self.focused, TextArea | Input):
            return True
        self._type_into_composer(event)
        self.composer.input.focus()
        return False

    def _type_into_composer(self, event: events.Key) -> None:
        box = self.composer.input
        box.last_key_at = time.monotonic()
        box.type_text(event.character or "")

    @on(ReviewDecided)
    def _review_decided(self, message: ReviewDecided) -> None:
        gate = self.ask_gate
        if gate is None:
            return
        gate.decide(message.edit_id, message.decision)
        if message.whole_turn:
            gate.approve_turn()

    def action_toggle_auto_approve(self) -> None:
        gate = self.ask_gate
        if gate is None:
            return
        gate.set_auto(not gate.auto_approve)
        self.approval_label = label_for(gate, self.approval_label)
        self.query_one(StatusBar).set_approval(self.approval_label)
        if gate.auto_approve:
            self._notice("auto-approve on: edits are applied without review (ctrl+t: ask again)")
        else:
            self._notice("auto-approve off: every edit waits for your review again")

    def action_undo(self) -> None:
        result = self.journal.undo(self.agent.toolbox.workspace)
        # Through the Agent, so the saved session records the undo even if no run follows.
        self.agent.emit(ev.Notice(result.message, "info" if result.ok else "warning"))
        if result.ok and result.entry is not None:
            self.agent.note(result.note)
            path = result.entry.path
            self.tracker.own_write(path)
            self.project_tree.mark(path, "ours", on=result.entry.before is not None)
            self.project_tree.reload()
        self.refresh_bindings()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # Textual's own "Theme" is replaced by ours, which says the choice is saved.
        # Textual's "Keys" too: "Keys and help" (F1) lists every key of kimitui's.
        yield from (
            c for c in super().get_system_commands(screen) if c.title not in ("Theme", "Keys")
        )
        yield from palette_commands(self)
