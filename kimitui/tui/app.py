"""KimiApp: the Textual front end over one Agent.

The App owns the Agent: it subscribes to its events, runs it in a named
worker, and is the only place that calls its controls. Widgets render state
and post messages. This module holds the layout, start-up, themes, the run
worker and quitting; the App's other jobs live in the classes it is built from:
agentview (engine events drawn on the panes), gatelink (the review gate and
undo), actions (keys, palette and widget messages) and keystate (state shown,
keys allowed, where a key lands).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.filter import LineFilter
from textual.screen import Screen
from textual.theme import Theme
from textual.timer import Timer
from textual.widgets import Footer, Static

from kimitui.config import ConfigError, config_path
from kimitui.core import events as ev
from kimitui.core.journal import Journal
from kimitui.core.loop import Agent
from kimitui.quitsummary import resume_command
from kimitui.tui.actions import AppActions
from kimitui.tui.agentview import AgentView
from kimitui.tui.approval import approval_label as label_for
from kimitui.tui.commands import command_infos, palette_commands
from kimitui.tui.composer import Composer
from kimitui.tui.dialogs import QuitScreen
from kimitui.tui.diffrows import warm_up
from kimitui.tui.findbar import FindBar
from kimitui.tui.gatelink import GateLink
from kimitui.tui.githeader import watch_git
from kimitui.tui.keystate import KeyState
from kimitui.tui.mcpstatus import McpAsker, McpStatusLine
from kimitui.tui.messages import (
    WatchProblem,
)
from kimitui.tui.meter import BudgetMeter
from kimitui.tui.review import ReviewScreen
from kimitui.tui.safety import ControlFilter, plain
from kimitui.tui.statusbar import StatusBar
from kimitui.tui.textview import Block, TextView
from kimitui.tui.themes import DEFAULT_THEME, VARIABLE_DEFAULTS, LoadedThemes, load_themes
from kimitui.tui.toolpane import ToolPane
from kimitui.tui.tree import LEGEND, ProjectTree
from kimitui.tui.watch import ChangeTracker, watch_project


class KimiApp(AgentView, GateLink, AppActions, KeyState):
    """Reasoning, tool calls and transcript of one Agent, with a file tree and a meter."""

    CSS_PATH: ClassVar = ["app.tcss", "review.tcss", "dialogs.tcss", "findbar.tcss"]
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
        Binding("ctrl+z", "undo", "undo step", priority=True),
        Binding("ctrl+t", "toggle_auto_approve", "auto-approve", show=False, priority=True),
        Binding("ctrl+g", "open_review", "review edit", priority=True),
        Binding("ctrl+g", "look_behind", "conversation", priority=True),
        Binding("ctrl+l", "focus_composer", "composer", show=False, priority=True),
        Binding("f1", "help", "help", priority=True),
        Binding("ctrl+f", "find", "find", show=False, priority=True),
        Binding("f2", "copy", "copy", show=False, priority=True),
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
                yield FindBar(id="findbar")
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
        self.composer.commands = command_infos()
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

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # Textual's own "Theme" is replaced by ours, which says the choice is saved.
        # Textual's "Keys" too: "Keys and help" (F1) lists every key of kimitui's.
        yield from (
            c for c in super().get_system_commands(screen) if c.title not in ("Theme", "Keys")
        )
        yield from palette_commands(self)
