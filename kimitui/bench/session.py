"""A long session in the TUI on a pty: memory over 200 steps, and step N as cheap as step 1."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from kimitui.bench.harness import Config, launch, serving, temp_project, wait_until
from kimitui.bench.ptyapp import PtyApp
from kimitui.bench.report import Row, Target
from kimitui.bench.scripts import long_session
from kimitui.demo.script import TurnSource
from kimitui.demo.server import ScriptedServer

RATE = 300.0
REASONING_CHARS = 10_000
FILLER_LINE = "filler text for the tool result of a long session, padded to length"
FILLER = "\n".join(f"{FILLER_LINE} {i:03}" for i in range(53)) + "\n"  # read_file: ~4,000 chars
GROWTH_MB = 20.0  # "flat": the transcript itself is ~3 MB of text by step 200


def session_case(cfg: Config) -> list[Row]:
    steps = cfg.size(200, 6)
    settle = cfg.size(50, 3)
    peak = Row(f"session {steps} steps: peak RSS", "MB", target=Target("<=", 250))
    growth = Row(f"session: RSS growth step {settle}→{steps}", "MB", target=Target("<=", GROWTH_MB))
    cost = Row(f"session: CPU streaming step {steps} vs step 1", "%", ratio_target=1.25)
    for _ in range(cfg.repeat):
        result = _run_session(steps, settle, cfg.size(REASONING_CHARS, 1_500))
        peak.add(result["peak"])
        growth.add(result["growth"])
        cost.add(result["cpu_last"], result["cpu_last"] / max(result["cpu_first"], 1e-6))
    return [peak, growth, cost]


def _script(
    steps: int, chars: int
) -> Callable[[Callable[[], ScriptedServer]], Sequence[TurnSource]]:
    return lambda server: long_session(server, steps, chars, {1, steps}, RATE)


def _run_session(steps: int, settle: int, chars: int) -> dict[str, float]:
    extra = ("--max-steps", str(steps + 5))
    with (
        temp_project({"filler.txt": FILLER}) as project,
        serving(_script(steps, chars)) as (server, url),
        launch(project, url, *extra) as app,
    ):
        rss: dict[int, float] = {}
        cpu_first = _step_cpu(app, server, 1, rss)
        for n in range(2, steps):
            wait_until(lambda n=n: len(server.requests) >= n, 60, f"step {n}")
            rss[n] = app.rss_mb()
        cpu_last = _step_cpu(app, server, steps, rss)
        wait_until(lambda: server.served >= steps + 1, 60, "the final answer")
        time.sleep(0.3)
        rss[steps] = app.rss_mb()
        return {
            "peak": app.peak_rss_mb(),
            "growth": rss[steps] - rss[settle],
            "cpu_first": cpu_first,
            "cpu_last": cpu_last,
        }


def _step_cpu(app: PtyApp, server: ScriptedServer, n: int, rss: dict[int, float]) -> float:
    """CPU % while step ``n`` streams at RATE (after half a second of warm-up)."""
    wait_until(lambda: len(server.requests) >= n, 60, f"step {n}")
    rss[n] = app.rss_mb()
    time.sleep(0.5)
    cpu0, t0 = app.cpu_seconds(), time.monotonic()
    wait_until(lambda: server.served >= n, 120, f"step {n} to finish streaming")
    cpu1, t1 = app.cpu_seconds(), time.monotonic()
    return 100.0 * (cpu1 - cpu0) / max(t1 - t0, 1e-6)
