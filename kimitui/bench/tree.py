"""The file tree over a big repository: first frame, outside changes, watcher idle CPU."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from kimitui.bench.harness import BenchError, Config, launch, serving, wait_until
from kimitui.bench.ptyapp import PtyApp, app_env, cpu_seconds
from kimitui.bench.report import Row, Target
from kimitui.bench.scripts import one_step

BODY = b"def f(x):\n    return x + 1\n"
MARKER = "zz_tree_marker"  # a top-level file: on screen once the tree has drawn


def tree_case(cfg: Config) -> list[Row]:
    files = cfg.size(50_000, 1_000)
    first = Row(f"tree {files:,} files: first frame", "s", target=Target("<=", 1.0))
    change = Row("tree: outside change shown", "s", target=Target("<=", 1.0))
    idle = Row("tree: watcher idle CPU", "%", target=Target("<=", 1.0))
    app_idle = Row("tree: whole app idle CPU (cursor blink, clock)", "%")
    with big_repo(files) as root:
        for rep in range(cfg.repeat):
            shown, changes, app_cpu = _tree_run(cfg, root, rep)
            first.add(shown)
            for seconds in changes:
                change.add(seconds)
            app_idle.add(app_cpu)
            idle.add(_watcher_idle(cfg, root))
    return [first, change, idle, app_idle]


@contextlib.contextmanager
def big_repo(files: int) -> Iterator[Path]:
    """``files`` files: 80% under src/, 10% each in ignored node_modules/ and .venv/."""
    with tempfile.TemporaryDirectory(prefix="kimitui-bench-tree-") as tmp:
        root = Path(tmp) / "repo"
        _fill(root / "src", files * 8 // 10)
        _fill(root / "node_modules", files // 10)
        _fill(root / ".venv" / "lib", files // 10)
        (root / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
        (root / ".gitignore").write_text("*.log\n")
        (root / f"{MARKER}.txt").write_text("marker\n")
        yield root


def _fill(folder: Path, count: int, per_dir: int = 100) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    for d in range(-(-count // per_dir)):
        sub = folder / f"pkg_{d:03}"
        sub.mkdir(parents=True)
        for i in range(min(per_dir, count - d * per_dir)):
            fd = os.open(f"{sub}/mod_{i:03}.py", flags, 0o644)
            os.write(fd, BODY)
            os.close(fd)


def _tree_run(cfg: Config, root: Path, rep: int) -> tuple[float, list[float], float]:
    with serving(one_step("unused")) as (_server, url), launch(root, url, task=None) as app:
        at = app.watch(MARKER).wait(30)
        if at is None:
            raise BenchError("the file tree never showed the repository")
        time.sleep(cfg.size(2.0, 1.0))  # let the watcher finish adding its watches
        changes = [_outside_change(app, root, f"a_outside_{rep}_{i}") for i in range(3)]
        return at - app.started, changes, _idle_cpu(app, cfg.size(4.0, 1.0))


def _outside_change(app: PtyApp, root: Path, name: str) -> float:
    seen = app.watch(name)
    made = time.monotonic()
    (root / f"{name}.txt").write_text("made outside kimitui\n")
    at = seen.wait(5.0)
    time.sleep(0.5)
    return 5.0 if at is None else at - made


def _idle_cpu(app: PtyApp, seconds: float) -> float:
    cpu0, t0 = app.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    return 100.0 * (app.cpu_seconds() - cpu0) / (time.monotonic() - t0)


def _watcher_idle(cfg: Config, root: Path) -> float:
    """CPU of kimitui's watcher alone (watch_project in a child) on the idle repository."""
    argv = [sys.executable, "-m", "kimitui.bench.children", "watch", str(root)]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, env=app_env(), text=True)
    try:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise BenchError("the watcher child did not start")
        time.sleep(cfg.size(3.0, 1.0))
        cpu0, t0 = cpu_seconds(child.pid), time.monotonic()
        wait_until(lambda: time.monotonic() - t0 >= cfg.size(5.0, 1.0), 30, "idle window")
        return 100.0 * (cpu_seconds(child.pid) - cpu0) / (time.monotonic() - t0)
    finally:
        child.terminate()
        child.wait(timeout=10)
