"""Child processes the benchmark measures from outside.

``python -m kimitui.bench.children watch ROOT``: kimitui's file watcher alone.
``python -m kimitui.bench.children engine BASE_URL PROJECT STEPS CAP_S``: the Agent
headless, stopped after CAP_S seconds if not done; prints one JSON object with per-step
times, memory and transcript size.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from kimitui.bench.ptyapp import status_kb


async def watch(root: Path) -> None:
    from kimitui.tui.watch import ChangeTracker, watch_project

    stop = asyncio.Event()
    print("ready", flush=True)
    await watch_project(root, ChangeTracker(root), lambda m: None, lambda t: None, stop)


async def engine(base_url: str, project: Path, steps: int, cap_s: float) -> dict[str, Any]:
    from kimitui.config import Settings
    from kimitui.core import events as ev
    from kimitui.core.gate import AutoGate
    from kimitui.wiring import Endpoint, build_agent

    settings = Settings(max_steps=steps + 5, context_window=10**9)
    agent = build_agent(settings, project, Endpoint(base_url, "bench"), AutoGate())
    starts: list[float] = []
    memory: dict[int, tuple[float, int]] = {}
    checkpoint = max(steps // 10, 1)

    def listener(event: ev.Event) -> None:
        if isinstance(event, ev.StepStarted):
            starts.append(time.monotonic())
            if event.n == checkpoint or event.n > steps or starts[-1] - starts[0] > cap_s:
                memory[event.n] = (_rss_mb(), len(json.dumps(agent.messages)))
            if starts[-1] - starts[0] > cap_s:
                agent.stop()  # bounded: the benchmark must end whatever the engine's speed

    agent.subscribe(listener)
    cpu0 = time.process_time()
    done = await agent.run("go")
    await agent.client.close()
    return {
        "reason": done.reason,
        "starts": starts,
        "cpu": time.process_time() - cpu0,
        "memory": {str(k): v for k, v in memory.items()},
        "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def _rss_mb() -> float:
    return status_kb("self", "VmRSS") / 1024


def main(argv: list[str]) -> None:
    if argv[0] == "watch":
        asyncio.run(watch(Path(argv[1])))
    elif argv[0] == "engine":
        result = asyncio.run(engine(argv[1], Path(argv[2]), int(argv[3]), float(argv[4])))
        print(json.dumps(result), flush=True)
    else:
        raise SystemExit(f"unknown child {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
