"""AppHost: what KimiApp's parts and the helpers around it share.

KimiApp is built from parts, one job each (agentview, gatelink, actions,
keystate). They, the palette commands and the other helpers that act on the
app are typed against this base, never against KimiApp itself, so no module
imports app.py back (app.py imports them all).
"""

from __future__ import annotations

from pathlib import Path

from rich.style import Style
from textual.app import App

from kimitui.core.gate import AskGate
from kimitui.core.journal import Journal
from kimitui.core.loop import Agent
from kimitui.tui.composer import Composer
from kimitui.tui.meter import BudgetMeter
from kimitui.tui.textview import TextView
from kimitui.tui.toolpane import ToolPane
from kimitui.tui.tree import ProjectTree
from kimitui.tui.watch import ChangeTracker


class AppHost(App[int]):
    """The state KimiApp sets up in __init__, and its panes, for its parts to use."""

    agent: Agent
    project: Path
    journal: Journal
    tracker: ChangeTracker
    transcript_path: Path | None
    loop_state: str
    run_active: bool
    budget_out: str | None

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
