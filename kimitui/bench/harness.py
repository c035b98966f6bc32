"""What every case shares: sizes, the server on loopback, launching kimitui on a pty."""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from kimitui.bench.ptyapp import PtyApp, app_env
from kimitui.demo.script import TurnSource
from kimitui.demo.server import ScriptedServer

KEY_ENV = "KIMITUI_BENCH_KEY"
T = TypeVar("T")


class BenchError(Exception):
    """A case could not measure what it was meant to (a timeout, a dead child)."""


@dataclass(frozen=True)
class Config:
    quick: bool = False
    repeat: int = 3

    def size(self, full: T, quick: T) -> T:
        return quick if self.quick else full


def kimitui_argv() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m kimitui``."""
    script = Path(sys.executable).parent / "kimitui"
    if script.exists():
        return [str(script)]
    found = shutil.which("kimitui")
    return [found] if found else [sys.executable, "-m", "kimitui"]


@contextlib.contextmanager
def serving(
    turns: Sequence[TurnSource] | Callable[[Callable[[], ScriptedServer]], Sequence[TurnSource]],
    tokens_per_second: float | None = None,
    **options: Any,
) -> Iterator[tuple[ScriptedServer, str]]:
    """A ScriptedServer on 127.0.0.1 in a thread of this process; yields it and its URL.

    ``turns`` may be a function of a getter for the server, for scripts that steer it.
    """
    holder: list[ScriptedServer] = []
    script = turns(lambda: holder[0]) if callable(turns) else turns
    server = ScriptedServer(script, tokens_per_second=tokens_per_second, **options)
    holder.append(server)
    with server.run_in_thread() as url:
        yield server, url


@contextlib.contextmanager
def temp_project(files: dict[str, str] | None = None) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="kimitui-bench-") as tmp:
        root = Path(tmp) / "proj"
        root.mkdir()
        for name, text in (files or {"a.py": "x = 1\n"}).items():
            (root / name).write_text(text)
        yield root


def launch(project: Path, url: str, *extra: str, task: str | None = "go") -> PtyApp:
    """kimitui's real CLI on a pty, pointed at the scripted server."""
    argv = [*kimitui_argv(), str(project), "--base-url", url, "--api-key-env", KEY_ENV]
    argv += ["--approve", "auto", *extra]
    if task:
        argv += ["--task", task]
    return PtyApp(argv, app_env({KEY_ENV: "bench"}))


def launch_baseline(project: Path, url: str) -> PtyApp:
    argv = [sys.executable, "-m", "kimitui.bench.baseline", url, str(project)]
    return PtyApp(argv, app_env())


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll every 5 ms; the monotonic time it became true, or BenchError."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.005)
    return time.monotonic()


def cpu_percent(app: PtyApp, start: float, until: Callable[[], bool], timeout: float) -> float:
    """The child's CPU (% of one core) from ``start`` (monotonic) until ``until()``."""
    wait_until(lambda: time.monotonic() >= start, timeout, "the measuring window")
    cpu0, t0 = app.cpu_seconds(), time.monotonic()
    wait_until(until, timeout, "the end of the measuring window")
    cpu1, t1 = app.cpu_seconds(), time.monotonic()
    return 100.0 * (cpu1 - cpu0) / max(t1 - t0, 1e-6)


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    index = max(0, -(-95 * len(ordered) // 100) - 1)
    return ordered[index]
