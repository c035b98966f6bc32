"""A child process on a real pseudo-terminal: output drained, CPU and memory read from /proc."""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import os
import pty
import re
import shutil
import signal
import struct
import tempfile
import termios
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

COLS, ROWS = 160, 48
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
READ_SIZE = 1 << 16
RECENT = 4096
ANSI = re.compile(rb"\x1b\[[0-9;?<>=$ ]*[A-Za-z~]|\x1b[()][A-Z0-9]|\x1b[=>]")


@dataclass
class Watch:
    """Waits for ``pattern`` to appear in output read after the watch was made."""

    pattern: bytes
    seen: threading.Event = field(default_factory=threading.Event)
    at: float = 0.0

    def wait(self, timeout: float) -> float | None:
        """The monotonic time the pattern arrived, or None on timeout."""
        return self.at if self.seen.wait(timeout) else None


class PtyApp:
    """Spawns ``argv`` on a pty of COLS x ROWS and reads its output on a thread."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> None:
        self.started = time.monotonic()
        self.pid, self.fd = _spawn(list(argv), env, cwd)
        self.bytes_read = 0
        self.last_read_at = 0.0
        self.recent = b""  # the last RECENT bytes, for diagnostics
        self.exit_status: int | None = None
        self._watches: list[Watch] = []
        self._lock = threading.Lock()
        self._tail = b""
        self._reader = threading.Thread(target=self._drain, name="pty-reader", daemon=True)
        self._reader.start()

    # -- output ---------------------------------------------------------------

    def watch(self, text: str) -> Watch:
        watch = Watch(text.encode())
        with self._lock:
            self._watches.append(watch)
        return watch

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.fd, READ_SIZE)
            except OSError:
                return
            if not data:
                return
            self._feed(data, time.monotonic())

    def _feed(self, data: bytes, now: float) -> None:
        self.bytes_read += len(data)
        self.last_read_at = now
        self.recent = (self.recent + data)[-RECENT:]
        with self._lock:
            if not self._watches:
                return
            window = self._tail + data
            for watch in self._watches:
                if watch.pattern in window:
                    watch.at = now
                    watch.seen.set()
            self._watches = [w for w in self._watches if not w.seen.is_set()]
            longest = max((len(w.pattern) for w in self._watches), default=1)
            self._tail = window[-(longest - 1) :] if longest > 1 else b""

    def recent_text(self) -> str:
        """The last output without escape sequences: what a failing case shows."""
        return ANSI.sub(b" ", self.recent).decode(errors="replace")

    # -- input ----------------------------------------------------------------

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    # -- resource use ---------------------------------------------------------

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def rss_mb(self) -> float:
        return status_kb(self.pid, "VmRSS") / 1024

    def peak_rss_mb(self) -> float:
        return status_kb(self.pid, "VmHWM") / 1024

    def alive(self) -> bool:
        if self.exit_status is not None:
            return False
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return True
        self.exit_status = status
        return False

    # -- ending ---------------------------------------------------------------

    def close(self, quit_keys: bytes = b"\x11", grace: float = 3.0) -> None:
        """Quit politely (Ctrl+Q), then SIGTERM, then SIGKILL; always reaps the child."""
        with contextlib.suppress(OSError):
            if self.alive():
                self.send(quit_keys)
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None and self.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, sig)
            if self._wait_exit(grace):
                break
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self._reader.join(timeout=2)

    def _wait_exit(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return True
            time.sleep(0.02)
        return not self.alive()

    def __enter__(self) -> PtyApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _spawn(argv: list[str], env: dict[str, str], cwd: Path | None) -> tuple[int, int]:
    pid, fd = pty.fork()
    if pid == 0:  # the child: size the terminal, then become the app
        try:
            winsize = struct.pack("HHHH", ROWS, COLS, 0, 0)
            fcntl.ioctl(pty.STDOUT_FILENO, termios.TIOCSWINSZ, winsize)
            if cwd is not None:
                os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    return pid, fd


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process (all its threads), from /proc/<pid>/stat."""
    return _ticks(Path(f"/proc/{pid}/stat").read_text()) / CLOCK_TICKS


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds per thread id."""
    out: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out[int(task.name)] = _ticks((task / "stat").read_text()) / CLOCK_TICKS
    return out


def _ticks(stat: str) -> int:
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = stat.rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def status_kb(pid: int | str, key: str) -> int:
    """A field of /proc/<pid>/status in kB (``pid`` may be "self")."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def app_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a TUI child: a 256-colour xterm of COLS x ROWS, no user config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEXTUAL", "PYTEST"))}
    env.update(
        TERM="xterm-256color",
        COLORTERM="truecolor",
        COLUMNS=str(COLS),
        LINES=str(ROWS),
        KIMITUI_CONFIG=os.devnull,
        # Sessions of benchmark runs must not land among the user's own.
        KIMITUI_STATE_DIR=_bench_state_dir(),
        PYTHONUNBUFFERED="1",
    )
    env.pop("NO_COLOR", None)
    env.update(extra or {})
    return env


@functools.cache
def _bench_state_dir() -> str:
    folder = tempfile.mkdtemp(prefix="kimitui-bench-state-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@contextlib.contextmanager
def spawned(argv: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> Iterator[PtyApp]:
    app = PtyApp(argv, env, cwd)
    try:
        yield app
    finally:
        app.close()
