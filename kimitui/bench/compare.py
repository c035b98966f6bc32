"""`kimitui compare --jobs 2` against the same comparison run one at a time.

The real command in a child process: `--demo` with its two scripted models
(demo-thinker, demo-terse) x 2 repeats, the scripted server paced at
PACE_TPS tokens per second so that, as with a real model, waiting for the
answer is most of a run (the rest is the project's tests, run in the sandbox
by the model and once more to score). Both orders start from the same sample
project and run the same script, so the only difference is ``--jobs``.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

from kimitui.bench.harness import BenchError, Config, kimitui_argv
from kimitui.bench.ptyapp import app_env
from kimitui.bench.report import Row

PACE_TPS = 150  # tokens per second: a hosted model on a good day
RATIO_TARGET = 0.6
TIMEOUT_S = 900


def compare_case(cfg: Config) -> list[Row]:
    label = "compare 2 models x 2 repeats"
    sequential = Row(f"{label}, --jobs 1: wall time", "s")
    parallel = Row(f"{label}, --jobs 2: wall time", "s", ratio_target=RATIO_TARGET)
    # Quick: one unpaced run stopped after one step and scored by `true` instead of the
    # sample's pytest, so the case still runs end to end in a few seconds.
    quick = ["--model", "demo-terse", "--repeat", "1", "--max-steps", "1"]
    extra = quick if cfg.quick else ["--repeat", "2"]
    runs = 1 if cfg.quick else 4
    pace = None if cfg.quick else PACE_TPS
    for _ in range(cfg.repeat):
        one = _timed(["--jobs", "1", *extra], pace, runs, cfg.quick)
        two = _timed(["--jobs", "2", *extra], pace, runs, cfg.quick)
        sequential.add(one)
        parallel.add(two, ratio=two / one)
    return [sequential, parallel]


def _timed(args: list[str], pace: float | None, runs: int, quick: bool) -> float:
    with tempfile.TemporaryDirectory(prefix="kimitui-bench-compare-") as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text('[tools]\ntest_command = ["true"]\n' if quick else "")
        argv = [
            *kimitui_argv(),
            "compare",
            str(Path(tmp) / "proj"),
            "--demo",
            "--json",
            "--out",
            str(Path(tmp) / "runs"),
            *args,
        ]
        env = app_env({"KIMITUI_CONFIG": str(config)})
        env.pop("KIMITUI_DEMO_TPS", None)
        if pace:
            env["KIMITUI_DEMO_TPS"] = str(pace)
        started = time.monotonic()
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=TIMEOUT_S)
        wall = time.monotonic() - started
    if done.returncode != 0:
        raise BenchError(f"compare exited {done.returncode}: {done.stderr[-300:]}")
    results = json.loads(done.stdout)["runs"]
    if len(results) != runs or any(r["outcome"] == "error" for r in results):
        raise BenchError(f"compare runs failed: {[r['message'] for r in results]}")
    return wall
