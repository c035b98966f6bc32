"""Budgets and meters: steps, tokens, context, wall-clock time and cost."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_CONTEXT_WINDOW = 262_144


@dataclass(frozen=True)
class TokenUsage:
    """Token counts of one model call as the server billed them."""

    prompt: int = 0
    completion: int = 0
    reasoning: int = 0
    cached: int = 0

    @property
    def total(self) -> int:
        return self.prompt + self.completion


@dataclass(frozen=True)
class Prices:
    """Price per million tokens; ``None`` means unknown (the meter shows "—")."""

    input: float | None = None
    cached_input: float | None = None
    output: float | None = None
    currency: str = "USD"
    source: str = ""  # where the prices come from, for the meter to say

    @property
    def known(self) -> bool:
        return self.input is not None and self.output is not None

    def cost(self, usage: TokenUsage) -> float | None:
        if self.input is None or self.output is None:
            return None
        cached_price = self.cached_input if self.cached_input is not None else self.input
        fresh = max(usage.prompt - usage.cached, 0)
        return (
            fresh * self.input + usage.cached * cached_price + usage.completion * self.output
        ) / 1_000_000


@dataclass
class Limits:
    max_steps: int = 25
    token_budget: int | None = None
    time_budget: float | None = None
    cost_budget: float | None = None


@dataclass
class Budget:
    """Running totals checked by the Agent before every model call."""

    limits: Limits = field(default_factory=Limits)
    prices: Prices = field(default_factory=Prices)
    context_window: int = DEFAULT_CONTEXT_WINDOW
    clock: Callable[[], float] = time.monotonic
    steps: int = 0
    used: TokenUsage = field(default_factory=TokenUsage)
    last_prompt: int = 0
    cost: float | None = None
    _started: float | None = None
    # Time spent before a resume or a pause the user asked for is still billed time.
    _elapsed_before: float = 0.0

    def start(self) -> None:
        if self._started is None:
            self._started = self.clock()

    def stop_clock(self) -> None:
        if self._started is not None:
            self._elapsed_before += self.clock() - self._started
            self._started = None

    @property
    def elapsed(self) -> float:
        running = self.clock() - self._started if self._started is not None else 0.0
        return self._elapsed_before + running

    def restore(
        self, *, steps: int, used: TokenUsage, last_prompt: int, cost: float | None, elapsed: float
    ) -> None:
        """Counters of a resumed session: what it already spent still counts against limits."""
        self.steps = steps
        self.used = used
        self.last_prompt = last_prompt
        self.cost = cost
        self._elapsed_before = elapsed

    def record(self, usage: TokenUsage) -> None:
        u = self.used
        self.used = TokenUsage(
            prompt=u.prompt + usage.prompt,
            completion=u.completion + usage.completion,
            reasoning=u.reasoning + usage.reasoning,
            cached=u.cached + usage.cached,
        )
        self.last_prompt = usage.prompt + usage.completion
        step_cost = self.prices.cost(usage)
        if step_cost is not None:
            self.cost = (self.cost or 0.0) + step_cost

    @property
    def context_pct(self) -> float:
        """Share of the context window the conversation fills after the last call."""
        if self.context_window <= 0:
            return 0.0
        return round(100.0 * self.last_prompt / self.context_window, 1)

    def exhausted(self) -> str | None:
        """The name of the first budget that is used up, or None."""
        lim = self.limits
        if self.steps >= lim.max_steps:
            return "max_steps"
        if lim.token_budget is not None and self.used.total >= lim.token_budget:
            return "token_budget"
        if lim.time_budget is not None and self.elapsed >= lim.time_budget:
            return "time_budget"
        if lim.cost_budget is not None and self.cost is not None and self.cost >= lim.cost_budget:
            return "cost_budget"
        return None

    def describe_exhausted(self, reason: str) -> str:
        lim = self.limits
        if reason == "max_steps":
            return f"step limit reached ({self.steps}/{lim.max_steps}); raise it with --max-steps"
        if reason == "token_budget":
            return (
                f"token budget used up ({self.used.total}/{lim.token_budget}); "
                "raise it with --token-budget"
            )
        if reason == "time_budget":
            return (
                f"time budget used up ({self.elapsed:.0f}/{lim.time_budget} s); "
                "raise it with --time-budget"
            )
        return f"cost budget used up ({self.cost}/{lim.cost_budget} {self.prices.currency})"

    def time_left(self) -> float | None:
        if self.limits.time_budget is None:
            return None
        return max(self.limits.time_budget - self.elapsed, 0.0)
