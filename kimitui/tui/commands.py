"""Command palette (ctrl+p) entries and the small jobs behind them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.markup import escape

from kimitui.core.budget import Budget
from kimitui.core.export import export_markdown
from kimitui.core.transcript import load_transcript
from kimitui.tui.commandreview import undo_step
from kimitui.tui.githeader import review_changes

if TYPE_CHECKING:
    from kimitui.tui.host import AppHost

# Budget kinds, as Done reasons name them, and what the palette calls them.
BUDGET_NAMES = {
    "max_steps": "steps",
    "token_budget": "token budget",
    "time_budget": "time budget",
    "cost_budget": "cost budget",
}


def raise_limit(budget: Budget, which: str) -> str | None:
    """Raise one limit past what is used; say what it is now (None: no such limit)."""
    lim, used = budget.limits, budget.used.total
    if which == "max_steps":
        lim.max_steps = max(lim.max_steps, budget.steps) + 10
        return f"steps raised to {lim.max_steps}"
    if which == "token_budget" and lim.token_budget:
        lim.token_budget = max(lim.token_budget, used) + max(lim.token_budget // 2, 10_000)
        return f"token budget raised to {lim.token_budget:,}"
    if which == "time_budget" and lim.time_budget:
        lim.time_budget = max(lim.time_budget, budget.elapsed) + max(lim.time_budget / 2, 60.0)
        return f"time budget raised to {lim.time_budget:.0f} s"
    if which == "cost_budget" and lim.cost_budget:
        lim.cost_budget = max(lim.cost_budget, budget.cost or 0.0) + lim.cost_budget / 2
        return f"cost budget raised to {lim.cost_budget:g}"
    return None


def export_session(transcript: Path) -> Path:
    """Write the session's Markdown export next to its transcript; return the path."""
    target = transcript.with_suffix(".md")
    target.write_text(export_markdown(load_transcript(transcript)), encoding="utf-8")
    return target


def limited(budget: Budget) -> list[str]:
    lim = budget.limits
    kinds = ["max_steps"]
    kinds += [k for k in ("token_budget", "time_budget", "cost_budget") if getattr(lim, k)]
    return kinds


def palette_commands(app: AppHost) -> Iterator[SystemCommand]:
    # The palette reads help texts as markup: "[ui]" must be escaped or it vanishes.
    yield SystemCommand(
        "Switch theme",
        escape("Pick a colour theme; the choice is saved as [ui] theme in config.toml"),
        app.search_themes,
    )
    gate = app.ask_gate
    if gate is not None:
        state = "off" if gate.auto_approve else "on"
        yield SystemCommand(
            f"Auto-approve edits: turn {state}",
            "Apply proposed edits without review, or review each one again (ctrl+t)",
            app.action_toggle_auto_approve,
        )
    yield SystemCommand(
        "Undo the last applied edit",
        "Revert the newest edit kimitui wrote, if the file is still as written (ctrl+z)",
        app.action_undo,
    )
    yield SystemCommand(
        "Undo the last step, commands included",
        "Restore the project as it was before the last step that changed it (kimitui undo)",
        lambda: undo_step(app),
    )
    yield SystemCommand(
        "Export transcript",
        "Write this session as Markdown beside its saved transcript; the path is copied",
        app.action_export,
    )
    for kind in limited(app.agent.budget):
        yield SystemCommand(
            f"Raise budget: {BUDGET_NAMES[kind]}",
            "Give the run more room; a run this budget stopped continues (ctrl+r)",
            lambda kind=kind: app.action_raise_budget(kind),
        )
    shown = "Hide" if app.reasoning.display else "Show"
    yield SystemCommand(
        f"{shown} the thinking pane",
        "The pane with the current step's reasoning (the transcript keeps every step)",
        app.action_toggle_reasoning,
    )
    yield SystemCommand(
        "Open config file location",
        "Show where config.toml lives and copy its path to the clipboard",
        app.action_config_location,
    )
    if app.agent.toolbox.git is not None:
        yield SystemCommand(
            "Review my changes",
            "Ask the model to review the working tree's diff with read-only tools",
            lambda: review_changes(app),
        )
    yield SystemCommand(
        "Find in the transcript",
        "Search the transcript (or the focused thinking pane); Enter moves on, Esc closes (ctrl+f)",
        app.action_find,
    )
    yield SystemCommand(
        "Copy the selection or the chosen message",
        "Mouse-selected text, else the clicked or found message, without labels or borders (F2)",
        app.action_copy,
    )
    yield SystemCommand("Keys and help", "Every key, grouped (F1)", app.action_help)
