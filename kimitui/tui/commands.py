"""Commands: each defined once (name, help, action), run as ``/name`` from the
composer or chosen in the command palette (ctrl+p); the palette's own entries
(budgets, panes, config) and the small jobs behind them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.markup import escape

from kimitui.core.budget import Budget
from kimitui.core.export import export_markdown
from kimitui.core.safetext import safe_line
from kimitui.core.transcript import load_transcript
from kimitui.tui import commandjobs as jobs
from kimitui.tui.completion import CommandInfo
from kimitui.tui.githeader import review_changes
from kimitui.tui.undo import pick_checkpoint, undo_command

if TYPE_CHECKING:
    from kimitui.tui.host import AppHost

# Budget kinds, as Done reasons name them, and what the palette calls them.
BUDGET_NAMES = {
    "max_steps": "steps",
    "token_budget": "token budget",
    "time_budget": "time budget",
    "cost_budget": "cost budget",
}


@dataclass(frozen=True)
class Command:
    """One command: ``/name`` in the composer, ``title`` in the palette."""

    name: str
    title: str
    help: str
    run: Callable[[AppHost, str], object]  # the App, and the text typed after the name
    argument: str = ""  # e.g. "NAME" (required) or "[NAME]" (optional)
    needs_git: bool = False  # the palette hides it outside a git work tree

    @property
    def usage(self) -> str:
        return f"/{self.name} {self.argument}".rstrip()


COMMANDS: tuple[Command, ...] = (
    Command(
        "help", "Keys and help", "Every key and slash command (F1)", lambda a, _: a.action_help()
    ),
    Command(
        "undo",
        "Undo the last step, commands included",
        "Restore the project as it was before the last step that changed it (ctrl+z); "
        "/undo STEP: as it was before STEP",
        undo_command,
        argument="[STEP]",
    ),
    Command(
        "diff",
        "Show the working tree's diff",
        "The uncommitted changes, as git diff shows them (withheld files left out)",
        jobs.show_diff,
        needs_git=True,
    ),
    Command(
        "review",
        "Review my changes",
        "Ask the model to review the working tree's diff with read-only tools",
        lambda a, _: review_changes(a),
        needs_git=True,
    ),
    Command(
        "commit",
        "Commit the changes",
        "Ask the model to commit (your message, or one it writes); the commit waits at the gate",
        jobs.commit_changes,
        argument="[MESSAGE]",
        needs_git=True,
    ),
    Command(
        "compact",
        "Compact the conversation",
        "Summarise the earlier steps now, to free room in the context window",
        jobs.compact_now,
    ),
    Command(
        "cost",
        "Tokens and cost so far",
        "Steps, tokens by kind, context share, time and cost of this session",
        jobs.show_cost,
    ),
    Command(
        "export",
        "Export transcript",
        "Write this session as Markdown beside its saved transcript; the path is copied",
        lambda a, _: a.action_export(),
    ),
    Command(
        "model",
        "Switch model",
        "Use another model from the next call on (/model NAME)",
        jobs.switch_model,
        argument="NAME",
    ),
    Command(
        "clear",
        "Clear the conversation",
        "A fresh conversation in the same session: the model forgets the earlier messages",
        jobs.clear_conversation,
    ),
    Command(
        "init",
        "Write AGENTS.md",
        "Ask the model to write the project's instruction file (through the review gate)",
        jobs.init_instructions,
    ),
    Command(
        "theme",
        "Switch theme",
        # The palette reads help texts as markup: "[ui]" must be escaped or it vanishes.
        "Pick a colour theme (/theme NAME); the choice is saved as [ui] theme in config.toml",
        jobs.switch_theme,
        argument="[NAME]",
    ),
)
BY_NAME = {c.name: c for c in COMMANDS}
SLASH = re.compile(r"/([A-Za-z][\w-]*)(?:\s+(.*))?", re.S)


def command_infos() -> list[CommandInfo]:
    """The commands as the composer's completion list shows them."""
    return [
        CommandInfo(c.name, c.usage, c.help, c.argument != "" and not c.argument.startswith("["))
        for c in COMMANDS
    ]


def slash_command(text: str) -> tuple[str, str] | None:
    """``(name, argument)`` when ``text`` is a slash command, else None (a message).

    "//text" is a message starting with "/"; so is "/usr/bin …" (no command name).
    """
    if text.startswith("//"):
        return None
    match = SLASH.fullmatch(text.strip())
    return (match[1], (match[2] or "").strip()) if match else None


def run_slash(app: AppHost, name: str, argument: str) -> bool:
    """Run ``/name``; an unknown name is said (False), and nothing reaches the model."""
    command = BY_NAME.get(name.lower())
    if command is None:
        jobs.say(
            app,
            f"/{safe_line(name)} is not a command, so nothing was sent (your text is back in "
            "the box). /help lists the commands; start with // to send a message that "
            "begins with /",
            "warning",
        )
        return False
    command.run(app, argument)
    return True


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
    has_git = app.agent.toolbox.git is not None
    for command in COMMANDS:
        if command.needs_git and not has_git:
            continue
        yield SystemCommand(
            command.title,
            escape(f"{command.help} · {command.usage}"),
            lambda command=command: command.run(app, ""),
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
        "Undo to a step…",
        "Pick any checkpoint of this session and restore the project to it",
        lambda: pick_checkpoint(app),
    )
    yield SystemCommand(
        "Undo the last applied edit only",
        "Revert the newest edit kimitui wrote, if the file is still as written",
        app.undo_edit,
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
