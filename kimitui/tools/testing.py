"""run_tests: the project's test command in a subprocess, bounded in time and output.

The command runs in its own session (process group) so a timeout or a
cancelled task can kill everything it spawned, not just the direct child.
Its environment carries no credentials: tests are code the model wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kimitui.tools.limits import tail_text

SECRET_NAME_PARTS = ("KEY", "TOKEN", "SECRET", "PASSWORD")
ALWAYS_SCRUBBED = ("MOONSHOT_API_KEY",)
TAIL_CHARS = 4000
KEEP_BYTES = 512 * 1024  # rolling window: only the tail is ever shown
READ_AFTER_EXIT = 5.0  # seconds to drain output after the process is gone

_COUNT = re.compile(
    r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?|rerun)"
)
_DURATION = re.compile(r"\bin (\d+(?:\.\d+)?)s\b")


def scrub_env(env: Mapping[str, str], extra: Iterable[str] = ()) -> dict[str, str]:
    """``env`` without variables whose names suggest credentials."""
    drop = {name.upper() for name in (*ALWAYS_SCRUBBED, *extra) if name}
    return {
        name: value
        for name, value in env.items()
        if name.upper() not in drop and not any(p in name.upper() for p in SECRET_NAME_PARTS)
    }


def project_python(root: Path) -> str:
    """The project's own interpreter when it has a virtualenv, else ours."""
    for venv in (".venv", "venv"):
        for rel in ("bin/python", "Scripts/python.exe"):
            candidate = root / venv / rel
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return sys.executable


def default_command(root: Path) -> list[str]:
    # no:cacheprovider: pytest must not write .pytest_cache into the project
    # --color=no: escape codes would fill the output tail the model sees
    return [project_python(root), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--color=no"]


@dataclass(frozen=True)
class TestRun:
    command: tuple[str, ...]
    exit_code: int | None  # None when killed on timeout
    timed_out: bool
    output: str
    elapsed: float
    timeout: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


async def run_command(
    command: Sequence[str], cwd: Path, env: Mapping[str, str], timeout: float
) -> TestRun:
    """Run ``command``; on timeout or cancellation kill its whole process group."""
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    buffer = bytearray()
    reader = asyncio.create_task(_drain(proc.stdout, buffer))
    timed_out = False
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        timed_out = True
    except asyncio.CancelledError:
        reader.cancel()
        raise
    finally:
        # Also after a normal exit: stray children must not outlive the run
        # (and would hold the output pipe open).
        _kill_group(proc.pid)
        if proc.returncode is None:
            await _reap(proc)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(reader), READ_AFTER_EXIT)
    reader.cancel()
    return TestRun(
        command=tuple(command),
        exit_code=None if timed_out else proc.returncode,
        timed_out=timed_out,
        output=buffer.decode("utf-8", "replace"),
        elapsed=time.monotonic() - started,
        timeout=timeout,
    )


async def _drain(stream: asyncio.StreamReader | None, buffer: bytearray) -> None:
    if stream is None:
        return
    while chunk := await stream.read(65536):
        buffer += chunk
        if len(buffer) > KEEP_BYTES:
            del buffer[: len(buffer) - KEEP_BYTES]


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def _reap(proc: asyncio.subprocess.Process) -> None:
    """Wait for the killed leader, even while our own task is being cancelled."""
    waiter = asyncio.ensure_future(proc.wait())
    try:
        await asyncio.shield(waiter)
    except asyncio.CancelledError:
        await waiter  # SIGKILL was sent, so this returns promptly
        raise


# pytest's exit codes (other test commands only promise "0 is success")
PYTEST_EXITS = {
    2: "STOPPED EARLY (exit code 2: interrupted, e.g. by errors collecting the tests)",
    3: "PYTEST INTERNAL ERROR (exit code 3)",
    4: "USAGE ERROR (exit code 4: pytest could not use its arguments, e.g. a path or test "
    "id that does not exist; no tests ran)",
    5: "NO TESTS COLLECTED (exit code 5)",
}
# Colour off for the test process: escape codes cost tokens and hide the text.
# pytest reads PY_COLORS; many other tools read NO_COLOR.
COLOUR_OFF_ENV = {"PY_COLORS": "0", "NO_COLOR": "1"}
KEY_LINES_CHARS = 1500  # failure lines from the part of the output the tail leaves out

_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: titles, links
    r"|\x1b[@-Z\\-_]"  # other two-byte escapes
)
# What names a failure in pytest's output: section headers ("____ test_x ____"),
# "E   ..." lines, "path:line: Error" locations, and the short summary.
_KEY = re.compile(r"^(?:_{3,} .+ _{3,}|E\s.*|\S+:\d+: \w+.*|(?:FAILED|ERROR) \S+.*)$")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _is_pytest(command: Sequence[str]) -> bool:
    return any(Path(arg).name.startswith("pytest") or arg == "pytest" for arg in command)


def _status(run: TestRun) -> str:
    if run.timed_out:
        return f"TIMED OUT after {run.timeout:g}s; the test process group was killed"
    if run.exit_code == 0:
        return "PASSED (exit code 0)"
    if _is_pytest(run.command) and run.exit_code in PYTEST_EXITS:
        return PYTEST_EXITS[run.exit_code]
    return f"FAILED (exit code {run.exit_code})"


def summarize(run: TestRun, cwd: Path, tail: int = TAIL_CHARS) -> str:
    """Summary line first (status, counts, exit code), then the tail of the output.

    When the tail leaves part of the output out, the lines that name failures
    in that part (test names, ``E`` lines, locations) come before it.
    """
    output = strip_ansi(run.output).strip("\n")
    counts = parse_counts(output)
    lines = [f"run_tests: {_status(run)}: {counts or 'no pytest summary line found'}"]
    lines.append("$ " + " ".join(_display_arg(arg, cwd) for arg in run.command))
    key = _key_lines(output, tail) if len(output) > tail else []
    key_text = "\n".join(key)
    shown, cut = tail_text(output, tail - len(key_text) if key else tail)
    if key:
        lines.append("--- failures, from the part of the output not shown below ---")
        lines.append(key_text)
    if cut:
        lines.append(f"--- last {len(shown):,} of {len(output):,} characters of output ---")
    elif shown:
        lines.append("--- output ---")
    if shown:
        lines.append(shown)
    return "\n".join(lines)


def _key_lines(output: str, tail: int) -> list[str]:
    """Failure-naming lines before the tail, within KEY_LINES_CHARS."""
    budget = min(KEY_LINES_CHARS, tail // 2)
    head = output[: len(output) - (tail - budget)]
    found: list[str] = []
    used = 0
    for line in head.splitlines():
        if not _KEY.match(line):
            continue
        line = line if len(line) <= 200 else line[:200] + "..."
        if used + len(line) + 1 > budget:
            found.append("[more failure lines not shown]")
            break
        found.append(line)
        used += len(line) + 1
    return found


def parse_counts(output: str) -> str:
    """pytest's final tally, e.g. "1 failed, 4 passed in 0.20s" ("" if none)."""
    for line in reversed(output.splitlines()):
        text = line.strip().strip("=").strip()
        if "no tests ran" in text:
            return text
        counts = _COUNT.findall(text)
        duration = _DURATION.search(text)
        if counts and duration:
            tally = ", ".join(f"{n} {word}" for n, word in counts)
            return f"{tally} in {duration.group(1)}s"
    return ""


def _display_arg(arg: str, cwd: Path) -> str:
    if arg == sys.executable:
        return "python"
    with contextlib.suppress(ValueError):
        return Path(arg).relative_to(cwd).as_posix()
    return arg
