"""One comparison run: copy the project, drive the engine headless, score, diff.

Runs are asyncio tasks in this process, not ``kimitui --headless`` children:
a run spends nearly all its time waiting for the model, which one event loop
overlaps for free; the engine's typed events feed the progress lines and the
metrics directly (no JSONL to re-parse); the SDK and the demo server load
once, not once per run. What could block the loop (copying, hashing,
checkpoints) runs on threads, and every program started for the model still
runs in the sandbox as its own process, so a hung test stalls only its run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kimitui.compare import workspace
from kimitui.compare.score import score
from kimitui.config import Settings
from kimitui.core import events as ev
from kimitui.core.budget import Prices
from kimitui.core.gate import gate_for
from kimitui.launch import demo_endpoint, record_session
from kimitui.wiring import Endpoint, build_agent

BUDGET_REASONS = ("max_steps", "token_budget", "time_budget", "cost_budget")


def outcome_of(reason: str) -> str:
    """finished / budget / error (an interrupted run counts as an error of the comparison)."""
    if reason == "finished":
        return "finished"
    return "budget" if reason in BUDGET_REASONS else "error"


@dataclass(frozen=True)
class RunSpec:
    index: int  # 0-based position in the whole comparison
    model: str  # the id the server is asked for
    provider: str | None  # a [providers.NAME], None for the default endpoint
    repeat: int  # 1-based
    settings: Settings  # this run's settings: model, endpoint, prices
    api_key: str

    @property
    def label(self) -> str:
        return f"{self.model}@{self.provider}" if self.provider else self.model


@dataclass
class Live:
    """What the progress line shows of a run while it goes."""

    state: str = "waiting"  # waiting, copying, running, scoring, then the outcome
    step: int = 0
    tokens: int = 0
    started: float | None = None
    ended: float | None = None

    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.ended or time.monotonic()) - self.started


@dataclass
class RunResult:
    label: str
    model: str
    provider: str | None
    repeat: int
    outcome: str = "error"
    reason: str = "error"
    message: str = ""
    session_id: str = ""
    transcript: str | None = None
    folder: str = ""
    diff_file: str | None = None
    steps: int = 0
    prompt: int = 0
    cached: int = 0
    completion: int = 0
    reasoning: int = 0
    cost: float | None = None
    wall_s: float = 0.0
    ttft_s: float | None = None
    files_changed: int = 0
    added: int = 0
    removed: int = 0
    tool_calls: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    tests_ok: bool | None = None
    tests_passed: int | None = None
    tests_failed: int | None = None
    tests_summary: str = ""

    @property
    def thinking_share(self) -> float | None:
        return self.reasoning / self.completion if self.completion else None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"thinking_share": self.thinking_share}


class Collector:
    """Sums a run's events into its metrics and its live progress."""

    def __init__(self, result: RunResult, live: Live, changed: Callable[[], None]) -> None:
        self.result = result
        self.live = live
        self.changed = changed
        self.calls: Counter[str] = Counter()
        self.ttfts: list[float] = []
        self._step_start: float | None = None

    def __call__(self, event: ev.Event) -> None:
        r = self.result
        match event:
            case ev.StepStarted():
                self.live.step = event.n
                self._step_start = time.monotonic()
                self.changed()
            case ev.ReasoningDelta() | ev.ContentDelta() | ev.ToolCallDelta():
                if self._step_start is not None:
                    self.ttfts.append(time.monotonic() - self._step_start)
                    self._step_start = None
            case ev.RetryScheduled():
                r.retries += 1
                # The first token of the retried call is timed from when it is sent.
                self._step_start = time.monotonic() + event.wait_s
            case ev.UsageReport():
                r.prompt += event.prompt
                r.cached += event.cached
                r.completion += event.completion
                r.reasoning += event.reasoning
                r.cost = event.cost
                self.live.tokens = event.session_total
                self.changed()
            case ev.ToolCall():
                self.calls[event.name] += 1
            case ev.Done():
                r.reason, r.message = event.reason, event.message
                r.outcome = outcome_of(event.reason)

    def finish(self) -> None:
        self.result.tool_calls = dict(sorted(self.calls.items()))
        self.result.ttft_s = statistics.median(self.ttfts) if self.ttfts else None


def _folder_name(spec: RunSpec) -> str:
    safe = re.sub(r"[^\w.-]+", "_", spec.label)[:60]
    return f"{spec.index + 1:02d}-{safe}-r{spec.repeat}"


async def run_one(
    spec: RunSpec,
    project: Path,
    out_dir: Path,
    task: str,
    *,
    demo: bool,
    demo_pace: float | None,
    live: Live,
    changed: Callable[[], None],
) -> RunResult:
    """One run from copy to score; every failure ends up in the result, never raised."""
    result = RunResult(spec.label, spec.model, spec.provider, spec.repeat)
    live.state, live.started = "copying", time.monotonic()
    changed()
    try:
        copy = await asyncio.to_thread(workspace.make_copy, project, out_dir / _folder_name(spec))
    except (OSError, workspace.CopyError) as err:
        result.message = f"could not copy the project: {err}"
        live.state, live.ended = "error", time.monotonic()
        changed()
        return result
    result.folder = str(copy.path)
    try:
        await _drive(spec, copy.path, task, result, demo, demo_pace, live, changed)
    except Exception as err:  # noqa: BLE001 - one broken run must not end the comparison
        result.outcome, result.reason = "error", "error"
        result.message = result.message or f"{type(err).__name__}: {err}"
    finally:
        await asyncio.to_thread(workspace.release, copy)
    live.state, live.ended = result.outcome, time.monotonic()
    changed()
    return result


async def _drive(
    spec: RunSpec,
    folder: Path,
    task: str,
    result: RunResult,
    demo: bool,
    demo_pace: float | None,
    live: Live,
    changed: Callable[[], None],
) -> None:
    before = await asyncio.to_thread(workspace.snapshot, folder)
    started = time.monotonic()
    async with AsyncExitStack() as stack:
        if demo:
            endpoint = await demo_endpoint(stack, tokens_per_second=demo_pace)
        else:
            endpoint = Endpoint(base_url=spec.settings.base_url, api_key=spec.api_key)
        agent = build_agent(spec.settings, folder, endpoint, gate_for("auto"))
        stack.push_async_callback(agent.toolbox.aclose)
        stack.push_async_callback(agent.client.close)
        if demo:  # the scripted models cost nothing, whatever their names
            agent.budget.prices = Prices(currency=agent.budget.prices.currency)
        collector = Collector(result, live, changed)
        agent.subscribe(collector)
        recording = record_session(stack, agent, task, demo, None)
        result.session_id = agent.client.session_id
        result.transcript = str(recording.transcript) if recording.transcript else None
        live.state = "running"
        changed()
        await agent.run(task)
        result.wall_s = time.monotonic() - started
        result.steps = agent.budget.steps
        collector.finish()
        live.state = "scoring"
        changed()
        tally = await score(agent.toolbox.tests)
    result.tests_ok, result.tests_summary = tally.ok, tally.summary
    result.tests_passed, result.tests_failed = tally.passed, tally.failed
    after = await asyncio.to_thread(workspace.snapshot, folder)
    diff = await asyncio.to_thread(workspace.changes, before, after)  # big files: off the loop
    result.files_changed, result.added, result.removed = diff.files, diff.added, diff.removed
    result.diff_file = _save_diff(result.transcript, diff.diff)


def _save_diff(transcript: str | None, diff: str) -> str | None:
    """The run's diff next to its session's transcript (``<id>.diff``)."""
    if transcript is None:
        return None
    path = Path(transcript).with_suffix(".diff")
    try:
        path.write_text(diff, encoding="utf-8", errors="surrogateescape")
        path.chmod(0o600)  # like the transcript: it holds the user's code
    except OSError:
        return None
    return str(path)


async def run_all(
    specs: list[RunSpec],
    project: Path,
    out_dir: Path,
    task: str,
    *,
    jobs: int,
    demo: bool,
    demo_pace: float | None,
    lives: list[Live],
    changed: Callable[[], None],
) -> list[RunResult]:
    """All runs, at most ``jobs`` at a time, in the order given."""
    gate = asyncio.Semaphore(jobs)

    async def bounded(spec: RunSpec) -> RunResult:
        async with gate:
            return await run_one(
                spec,
                project,
                out_dir,
                task,
                demo=demo,
                demo_pace=demo_pace,
                live=lives[spec.index],
                changed=changed,
            )

    return list(await asyncio.gather(*(bounded(s) for s in specs)))
