"""The engine alone, headless in a child, against a server that answers at once."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

from aiohttp import web

from kimitui.bench.harness import BenchError, Config, temp_project
from kimitui.bench.ptyapp import app_env
from kimitui.bench.report import Row, Target
from kimitui.bench.scripts import engine_steps
from kimitui.demo.server import ScriptedServer

CAP_S = 25.0  # a run stops here even if the steps are not done, so the benchmark stays bounded


class TimedServer(ScriptedServer):
    """Records when each chat request arrived and when its answer was fully written."""

    spans: list[tuple[float, float]]

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        start = time.monotonic()
        try:
            return await super()._chat(request)
        finally:
            self.spans.append((start, time.monotonic()))


def engine_case(cfg: Config) -> list[Row]:
    steps = cfg.size(1_000, 30)
    overhead = Row(
        f"engine {steps:,} steps: overhead per step (median)", "ms", target=Target("<=", 5)
    )
    late = Row("engine: overhead per step, last 10% of steps run", "ms")
    done = Row(f"engine: steps done within the {CAP_S:g} s cap", "steps")
    memory = Row("engine: RSS growth ÷ transcript growth", "x", target=Target("<=", 3))
    for _ in range(cfg.repeat):
        result, spans = _run(steps)
        per_step = _overheads(result["starts"], spans)
        overhead.add(statistics.median(per_step))
        late.add(statistics.median(per_step[-max(len(per_step) // 10, 1) :]))
        done.add(len(per_step))
        memory.add(_memory_ratio(result["memory"]))
    return [overhead, late, done, memory]


def _run(steps: int) -> tuple[dict[str, Any], list[tuple[float, float]]]:
    server = TimedServer(engine_steps(steps))
    server.spans = []
    with temp_project() as project, server.run_in_thread() as url:
        argv = [sys.executable, "-m", "kimitui.bench.children", "engine", url, str(project)]
        done = subprocess.run(
            [*argv, str(steps), str(CAP_S)],
            capture_output=True,
            text=True,
            timeout=CAP_S + 60,
            env=app_env(),
        )
    if done.returncode != 0:
        raise BenchError(f"engine child failed: {done.stderr[-500:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["reason"] not in ("finished", "interrupted"):
        raise BenchError(f"engine run ended with {result['reason']}")
    return result, server.spans


def _overheads(starts: list[float], spans: list[tuple[float, float]]) -> list[float]:
    """ms per step: wall time from one StepStarted to the next, minus the server's time."""
    out = []
    for n in range(min(len(starts) - 1, len(spans))):
        served = spans[n][1] - spans[n][0]
        out.append(1000.0 * (starts[n + 1] - starts[n] - served))
    return out


def _memory_ratio(memory: dict[str, list[float]]) -> float:
    """How many bytes of RSS each byte of transcript (as JSON) costs, between two checkpoints."""
    first, last = sorted(memory, key=int)[0], sorted(memory, key=int)[-1]
    (rss0, text0), (rss1, text1) = memory[first], memory[last]
    return max(rss1 - rss0, 0.0) * 2**20 / max(text1 - text0, 1)
