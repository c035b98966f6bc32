"""The budget meter: steps, tokens, context, time and cost against their limits."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from kimitui.core.budget import Budget

WARN_PCT = 75.0
ERROR_PCT = 90.0
BAR_CELLS = 6
NO_PRICES = "no known prices for this model: set [prices] in config.toml to see a cost"


def count(n: float) -> str:
    """Exact below 10,000 (so the meter can be checked against the server), else short."""
    if n < 10_000:
        return f"{int(n):,}"
    if n < 100_000:
        return f"{n / 1000:.1f}".rstrip("0").rstrip(".") + "k"
    if n < 1_000_000:
        return f"{n / 1000:.0f}k"
    return f"{n / 1_000_000:.2f}".rstrip("0").rstrip(".") + "M"


def clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02}:{rest % 60:02}" if hours else f"{rest // 60}:{rest % 60:02}"


def bar(pct: float | None) -> str:
    if pct is None:
        return " " * BAR_CELLS
    filled = min(BAR_CELLS, round(BAR_CELLS * pct / 100))
    return "▰" * filled + "▱" * (BAR_CELLS - filled)


def level(pct: float | None) -> str:
    if pct is None or pct < WARN_PCT:
        return "ok"
    return "error" if pct >= ERROR_PCT else "warning"


def share(used: float, limit: float | None) -> float | None:
    if limit is None or limit <= 0:
        return None
    return 100.0 * used / limit


class Line(Static):
    """A one-line Static that repaints only when its text changes, without a layout.

    The meter is refreshed every second while a run is active; a plain ``update``
    would lay out the whole screen each time although no size can change.
    """

    _text: str | None = None

    def set_text(self, text: str) -> None:
        if text != self._text:
            self._text = text
            self.update(text, layout=False)


class MeterRow(Line):
    """One line of the meter; its class says ok / warning / error."""

    def show(self, label: str, pct: float | None, value: str) -> None:
        self.set_text(f"{label:<8}{bar(pct)} {value}")
        kind = level(pct)
        # A row with a limit is coloured by how much of it is used; one without stays plain.
        self.set_class(pct is not None and kind == "ok", "-ok")
        self.set_class(kind == "warning", "-warning")
        self.set_class(kind == "error", "-error")


class BudgetMeter(Vertical):
    """Reads the Agent's Budget when told to refresh; never holds numbers of its own."""

    def compose(self) -> ComposeResult:
        yield MeterRow(id="meter-steps", classes="meter-row")
        yield MeterRow(id="meter-tokens", classes="meter-row")
        yield Line(id="meter-in", classes="meter-detail")
        yield Line(id="meter-out", classes="meter-detail")
        yield MeterRow(id="meter-context", classes="meter-row")
        yield Line(id="meter-window", classes="meter-detail")
        yield MeterRow(id="meter-time", classes="meter-row")
        yield MeterRow(id="meter-cost", classes="meter-row")

    def show(self, budget: Budget) -> None:
        lim, used = budget.limits, budget.used
        self._row("steps").show(
            "steps", share(budget.steps, lim.max_steps), f"{budget.steps}/{lim.max_steps}"
        )
        cap = f"/{count(lim.token_budget)}" if lim.token_budget else ""
        self._row("tokens").show(
            "tokens", share(used.total, lim.token_budget), f"{count(used.total)}{cap}"
        )
        self.query_one("#meter-in", Line).set_text(
            f"in {count(used.prompt)} · {count(used.cached)} cached"
        )
        self.query_one("#meter-out", Line).set_text(
            f"out {count(used.completion)} · {count(used.reasoning)} think"
        )
        self._row("context").show("context", budget.context_pct, f"{budget.context_pct:g}%")
        self.query_one("#meter-window", Line).set_text(
            f" {count(budget.last_prompt)} of {count(budget.context_window)}"
        )
        self._show_time(budget)
        self._show_cost(budget)

    def _show_time(self, budget: Budget) -> None:
        limit = budget.limits.time_budget
        cap = f"/{clock(limit)}" if limit else ""
        self._row("time").show("time", share(budget.elapsed, limit), clock(budget.elapsed) + cap)

    def _show_cost(self, budget: Budget) -> None:
        row = self._row("cost")
        source = budget.prices.source or NO_PRICES
        if row.tooltip != source:
            row.tooltip = source
        limit, cost = budget.limits.cost_budget, budget.cost
        if cost is None:
            row.show("cost", None, "—")
            return
        cap = f"/{limit:g}" if limit else ""
        pct = share(cost, limit)
        currency = budget.prices.currency
        # "$" keeps the row inside the narrow side pane; other currencies are named.
        value = f"${cost:.4f}{cap}" if currency == "USD" else f"{cost:.4f}{cap} {currency}"
        row.show("cost", pct, value)

    def _row(self, name: str) -> MeterRow:
        return self.query_one(f"#meter-{name}", MeterRow)
