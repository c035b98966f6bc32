"""run_tests: the default test command, and the summary the model reads.

The run itself goes through the sandbox (kimitui.sandbox, via testrun.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path
from typing import Protocol

from kimitui.tools.limits import tail_text
from kimitui.tools.testargs import is_pytest

TAIL_CHARS = 4000

_COUNT = re.compile(
    r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?|rerun)"
)
_DURATION = re.compile(r"\bin (\d+(?:\.\d+)?)s\b")


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


class TestRun(Protocol):
    """What :func:`summarize` reads of a finished run (a sandbox RunResult)."""

    command: tuple[str, ...]
    exit_code: int | None
    timed_out: bool
    output: str
    timeout: float


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


def _status(run: TestRun) -> str:
    if run.timed_out:
        return f"TIMED OUT after {run.timeout:g}s; the test process group was killed"
    if run.exit_code == 0:
        return "PASSED (exit code 0)"
    if is_pytest(run.command) and run.exit_code in PYTEST_EXITS:
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
