"""Rows of measurements and the one table the benchmark prints."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Literal

Op = Literal["<=", ">="]


@dataclass(frozen=True)
class Target:
    op: Op
    value: float

    def holds(self, measured: float) -> bool:
        return measured <= self.value if self.op == "<=" else measured >= self.value

    def text(self, unit: str) -> str:
        return f"{'≤' if self.op == '<=' else '≥'} {fmt(self.value)} {unit}".strip()


@dataclass
class Row:
    """One line of the table: a measured quantity over repetitions."""

    case: str
    unit: str
    samples: list[float] = field(default_factory=list)
    target: Target | None = None
    ratios: list[float] = field(default_factory=list)  # to a baseline, one per repetition
    ratio_target: float | None = None  # the ratio must be ≤ this
    note: str = ""  # replaces the numbers, e.g. "n/a (review view not present)"

    def add(self, value: float, ratio: float | None = None) -> None:
        self.samples.append(value)
        if ratio is not None:
            self.ratios.append(ratio)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def ratio(self) -> float | None:
        return statistics.median(self.ratios) if self.ratios else None

    def verdict(self) -> str:
        if self.note or not self.samples:
            return "n/a" if self.note.startswith("n/a") else "ERROR"
        checks = []
        if self.target is not None:
            checks.append(self.target.holds(self.median))
        ratio = self.ratio
        if self.ratio_target is not None and ratio is not None:
            checks.append(ratio <= self.ratio_target)
        if not checks:
            return "info"
        return "PASS" if all(checks) else "MISS"

    def cells(self) -> list[str]:
        if self.note or not self.samples:
            note = self.note or "no samples"
            return [self.case, note, "", self._target_text(), "", self.verdict()]
        unit = f" {self.unit}" if self.unit else ""
        spread = f"{fmt(min(self.samples))}-{fmt(max(self.samples))}{unit}"
        ratio = "" if self.ratio is None else f"{fmt(self.ratio)}x"
        median = f"{fmt(self.median)}{unit}"
        return [self.case, median, spread, self._target_text(), ratio, self.verdict()]

    def _target_text(self) -> str:
        parts = []
        if self.target is not None:
            parts.append(self.target.text(self.unit))
        if self.ratio_target is not None:
            parts.append(f"≤ {fmt(self.ratio_target)}x baseline")
        return " and ".join(parts) if parts else "—"


def fmt(value: float) -> str:
    """Three significant figures, without scientific notation for the sizes used here."""
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


HEADER = ["case", "median", "min-max", "target", "ratio", "result"]


def table(rows: list[Row]) -> str:
    """A Markdown table with aligned columns (readable in a terminal and in BENCHMARKS.md)."""
    lines = [HEADER, ["---"] * len(HEADER), *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    out = []
    for line in lines:
        if line[0] == "---":
            line = ["-" * w for w in widths]
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |")
    return "\n".join(out)
