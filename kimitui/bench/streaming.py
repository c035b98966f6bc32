"""Streaming into the TUI on a pty: steady 300 tokens/s against a Markdown baseline, a burst,
and key latency while streaming."""

from __future__ import annotations

import random
import time

from kimitui.bench.harness import (
    BenchError,
    Config,
    cpu_percent,
    launch,
    launch_baseline,
    p95,
    serving,
    temp_project,
    wait_until,
)
from kimitui.bench.ptyapp import PtyApp
from kimitui.bench.report import Row, Target
from kimitui.bench.scripts import marker_text, one_step

RATE = 300.0
WARMUP_S = 1.0  # the measuring window starts this long after the request
PROBE = "ABCDEFGHIJKLMNOQRSTUVWXYZ0123456789"  # never in the lowercase stream


def _stream_cpu(cfg: Config, baseline: bool) -> float:
    seconds = cfg.size(20.0, 2.0)
    turns = one_step(marker_text(int(RATE * seconds), "ENDMARK"))
    with temp_project() as project, serving(turns, RATE) as (server, url):
        app = launch_baseline(project, url) if baseline else launch(project, url)
        with app:
            started = wait_until(lambda: bool(server.requests), 30, "the model request")
            return cpu_percent(app, started + WARMUP_S, lambda: server.served >= 1, seconds + 30)


def stream_case(cfg: Config) -> list[Row]:
    ours = Row("stream 300 tok/s: kimitui CPU", "%", target=Target("<=", 10.0), ratio_target=0.25)
    base = Row("stream 300 tok/s: Markdown get_stream() baseline CPU", "%")
    for _ in range(cfg.repeat):
        mine = _stream_cpu(cfg, baseline=False)
        theirs = _stream_cpu(cfg, baseline=True)
        ours.add(mine, mine / max(theirs, 1e-6))
        base.add(theirs)
    return [ours, base]


def burst_case(cfg: Config) -> list[Row]:
    tokens = cfg.size(50_000, 2_000)
    after = Row(f"burst {tokens:,} tokens: on screen after last byte", "s", target=Target("<=", 5))
    rate = Row(f"burst {tokens:,} tokens: absorbed", "tok/s", target=Target(">=", 10_000))
    for _ in range(cfg.repeat):
        screen_s, tps = _burst(tokens)
        after.add(screen_s)
        rate.add(tps)
    return [after, rate]


def _burst(tokens: int) -> tuple[float, float]:
    marker = "BURSTEND"
    turns = one_step(marker_text(tokens, marker))
    with (
        temp_project() as project,
        serving(turns) as (server, url),
        launch(project, url) as app,
    ):
        seen = app.watch(marker)
        last_byte = wait_until(lambda: server.served >= 1, 90, "the end of the burst")
        at = seen.wait(60)
        if at is None:
            raise BenchError(f"the burst never reached the screen: {app.recent_text()[-300:]}")
        return max(at - last_byte, 0.0), tokens / max(at - server.request_times[0], 1e-6)


def keys_case(cfg: Config) -> list[Row]:
    row = Row("key → screen while streaming 300 tok/s: p95", "ms", target=Target("<=", 50))
    for n in range(cfg.repeat):
        row.add(p95(_key_latencies(cfg, seed=n)))
    return [row]


def _key_latencies(cfg: Config, seed: int) -> list[float]:
    presses = cfg.size(30, 5)
    seconds = presses * 0.35 + 5
    turns = one_step(marker_text(int(RATE * seconds), "ENDMARK"))
    rng = random.Random(seed)
    with (
        temp_project() as project,
        serving(turns, RATE) as (server, url),
        launch(project, url) as app,
    ):
        started = wait_until(lambda: bool(server.requests), 30, "the model request")
        wait_until(lambda: time.monotonic() > started + WARMUP_S, 5, "warm-up")
        return [_press(app, PROBE[: i + 1], rng) for i in range(presses)]


def _press(app: PtyApp, typed: str, rng: random.Random) -> float:
    """Type the last character of ``typed``; ms until the composer shows all of ``typed``."""
    seen = app.watch(typed)
    sent = time.monotonic()
    app.send(typed[-1].encode())
    at = seen.wait(2.0)
    time.sleep(rng.uniform(0.15, 0.3))
    return 2000.0 if at is None else 1000.0 * (at - sent)
