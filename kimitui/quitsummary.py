"""What the launcher prints once the TUI has given the terminal back.

A few plain lines on the normal screen, where they stay after the app's
screen is gone: the files this session's edits changed, the tokens and cost,
and the command that brings the session back. A session in which nothing
happened (no model call, no edit) prints nothing: there is nothing to report
and nothing worth resuming. File names come from the model and the repository,
so every one is made terminal-safe.
"""

from __future__ import annotations

from pathlib import Path

from kimitui.core.budget import Budget
from kimitui.core.journal import Journal
from kimitui.core.safetext import safe_line
from kimitui.core.transcript import read_header

MAX_NAMES = 8  # more changed files than this: the first ones and "and N more"


def resume_command(session_id: str, transcript: Path | None) -> str:
    """The command that brings this session back, or "" when it is not saved."""
    if transcript is None or not transcript.exists():
        return ""
    try:
        demo = bool(read_header(transcript).get("demo"))
    except OSError:
        demo = False
    return f"kimitui --resume {session_id}" + (" --demo" if demo else "")


def files_changed(journal: Journal) -> list[str]:
    """Paths the session's applied edits changed, first change first; a path whose
    every edit was undone again is left out."""
    seen: dict[str, None] = {}
    for entry in journal.undoable:
        seen.setdefault(entry.path, None)
    return list(seen)


def _names(paths: list[str]) -> str:
    shown = ", ".join(safe_line(p) for p in paths[:MAX_NAMES])
    more = len(paths) - MAX_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


def _cost(budget: Budget, demo: bool) -> str:
    if demo:
        return "none (the demo's scripted model)"
    if budget.cost is None:
        return "unknown (no prices for this model; see [prices] in config.toml)"
    return f"{budget.cost:.4f} {budget.prices.currency}"


def quit_summary(
    budget: Budget,
    journal: Journal,
    resume: str,
    *,
    demo: bool = False,
    changed: list[str] | None = None,
) -> str:
    """The lines to print after the app exits; "" when the session did nothing.

    ``changed``: the files the checkpoints saw change (commands too); without it,
    the journal's applied edits."""
    paths = files_changed(journal) if changed is None else changed
    used = budget.used
    if budget.steps == 0 and used.total == 0 and not paths:
        return ""
    files = f"{len(paths)}: {_names(paths)}" if paths else "none"
    lines = [
        "kimitui session summary",
        f"  files changed  {files}",
        f"  tokens         {used.prompt:,} prompt ({used.cached:,} cached)"
        f" · {used.completion:,} completion · {budget.steps} step(s)",
        f"  cost           {_cost(budget, demo)}",
    ]
    if resume:
        lines.append(f"  resume with    {resume}")
    return "\n".join(lines)
