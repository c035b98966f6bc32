"""The comparison table: per model, the median and min-max over its repeats.

Models are columns and measures are rows, so a handful of models stays
readable in a terminal however many measures there are.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kimitui.compare.runner import RunResult
from kimitui.core.safetext import safe_line

OUTCOMES = ("finished", "budget", "error")


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high}


def spread(values: Sequence[float | None]) -> Spread | None:
    known = [v for v in values if v is not None]
    if not known:
        return None
    return Spread(statistics.median(known), min(known), max(known))


# The run's field (also the key in the JSON) -> the row's title and how a value is written.
MEASURES: dict[str, tuple[str, Callable[[float], str]]] = {
    "tests_passed": ("tests passed", lambda v: f"{v:g}"),
    "tests_failed": ("tests failed", lambda v: f"{v:g}"),
    "steps": ("steps", lambda v: f"{v:g}"),
    "prompt": ("prompt tokens", lambda v: f"{v:,.0f}"),
    "cached": ("cached tokens", lambda v: f"{v:,.0f}"),
    "completion": ("completion tokens", lambda v: f"{v:,.0f}"),
    "reasoning": ("reasoning tokens", lambda v: f"{v:,.0f}"),
    "thinking_share": ("thinking share", lambda v: f"{v:.0%}"),
    "cost": ("cost", lambda v: f"{v:.4f}"),
    "wall_s": ("wall time (s)", lambda v: f"{v:.1f}"),
    "ttft_s": ("first token (s)", lambda v: f"{v:.2f}"),
    "files_changed": ("files changed", lambda v: f"{v:g}"),
    "added": ("lines added", lambda v: f"{v:g}"),
    "removed": ("lines removed", lambda v: f"{v:g}"),
    "retries": ("retries", lambda v: f"{v:g}"),
}


def values(runs: Sequence[RunResult], key: str) -> list[float | None]:
    return [getattr(r, key) for r in runs]


def group(results: Sequence[RunResult]) -> dict[str, list[RunResult]]:
    """Runs by model label, in the order the models were given."""
    groups: dict[str, list[RunResult]] = {}
    for r in results:
        groups.setdefault(r.label, []).append(r)
    return groups


def outcome_counts(runs: Sequence[RunResult]) -> dict[str, int]:
    counts = Counter(r.outcome for r in runs)
    return {k: counts.get(k, 0) for k in OUTCOMES}


def tool_spreads(runs: Sequence[RunResult]) -> dict[str, Spread]:
    names = sorted({name for r in runs for name in r.tool_calls})
    found = {n: spread([r.tool_calls.get(n, 0) for r in runs]) for n in names}
    return {n: s for n, s in found.items() if s is not None}


def summary(runs: Sequence[RunResult]) -> dict[str, Any]:
    """One model's aggregate, as the JSON carries it."""
    measures = {}
    for key in MEASURES:
        s = spread(values(runs, key))
        measures[key] = s.to_dict() if s else None
    return {
        "label": runs[0].label,
        "model": runs[0].model,
        "provider": runs[0].provider,
        "runs": len(runs),
        "outcomes": outcome_counts(runs),
        "tests_ok": sum(1 for r in runs if r.tests_ok),
        "measures": measures,
        "tool_calls": {n: s.to_dict() for n, s in tool_spreads(runs).items()},
    }


def to_json(results: Sequence[RunResult], meta: dict[str, Any]) -> dict[str, Any]:
    return {
        **meta,
        "models": [summary(runs) for runs in group(results).values()],
        "runs": [r.to_dict() for r in results],
    }


def _cell(s: Spread | None, fmt: Callable[[float], str]) -> str:
    if s is None:
        return "—"
    if s.low == s.high:
        return fmt(s.median)
    return f"{fmt(s.median)} ({fmt(s.low)}-{fmt(s.high)})"


def _outcome_cell(runs: Sequence[RunResult]) -> str:
    counts = outcome_counts(runs)
    return ", ".join(f"{n} {k}" for k, n in counts.items() if n)


def _green_cell(runs: Sequence[RunResult]) -> str:
    return f"{sum(1 for r in runs if r.tests_ok)}/{len(runs)}"


def _tools_cell(runs: Sequence[RunResult]) -> str:
    spreads = tool_spreads(runs)
    return ", ".join(f"{n} {_cell(s, lambda v: f'{v:g}')}" for n, s in spreads.items()) or "—"


def markdown(results: Sequence[RunResult], currency: str = "USD") -> str:
    """The table as Markdown: one column per model, one row per measure."""
    groups = group(results)
    # Model names come from the command line or config: shown, never obeyed.
    header = ["", *(f"{_label(label)} ({len(runs)} runs)" for label, runs in groups.items())]
    rows = [
        ["outcome", *(_outcome_cell(runs) for runs in groups.values())],
        # Whatever the test command is, exit 0 after the run: what any project can tell.
        ["tests green", *(_green_cell(runs) for runs in groups.values())],
    ]
    for key, (title, fmt) in MEASURES.items():
        title = f"cost ({currency})" if key == "cost" else title
        rows.append([title, *(_cell(spread(values(runs, key)), fmt) for runs in groups.values())])
    rows.append(["tool calls", *(_tools_cell(runs) for runs in groups.values())])
    return _render([header, *rows])


def _render(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("| " + " | ".join(cells) + " |")
        if n == 0:
            lines.append(
                "|"
                + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths))
                + "|"
            )
    return "\n".join(lines) + "\n"


def runs_markdown(results: Sequence[RunResult]) -> str:
    """One line per run: where its session, diff and folder are."""
    rows = [["run", "outcome", "tests", "session", "diff"]]
    for r in results:
        tests = (
            "—" if r.tests_passed is None else f"{r.tests_passed} passed, {r.tests_failed} failed"
        )
        rows.append(
            [
                f"{_label(r.label)} #{r.repeat}",
                r.reason,
                tests,
                r.session_id or "—",
                f"+{r.added}/-{r.removed} in {r.files_changed} files",
            ]
        )
    return _render(rows)


def _label(label: str) -> str:
    return safe_line(label).replace("|", "\\|")
