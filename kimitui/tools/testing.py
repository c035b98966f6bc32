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
    return [project_python(root), "-m", "pytest", "-q", "-p", "no:cacheprovider"]


class TestRun(Protocol):
    """What :func:`summarize` reads of a finished run (a sandbox RunResult)."""

    command: tuple[str, ...]
    exit_code: int | None
    timed_out: bool
    output: str
    timeout: float


def summarize(run: TestRun, cwd: Path, tail: int = TAIL_CHARS) -> str:
    """Summary line first (status, counts, exit code), then the tail of the output."""
    counts = parse_counts(run.output)
    if run.timed_out:
        status = f"TIMED OUT after {run.timeout:g}s; the test process group was killed"
    elif run.exit_code == 0:
        status = "PASSED (exit code 0)"
    elif run.exit_code == 5:
        status = "NO TESTS COLLECTED (exit code 5)"
    else:
        status = f"FAILED (exit code {run.exit_code})"
    lines = [f"run_tests: {status}: {counts or 'no pytest summary line found'}"]
    lines.append("$ " + " ".join(_display_arg(arg, cwd) for arg in run.command))
    shown, cut = tail_text(run.output.strip("\n"), tail)
    if cut:
        lines.append(f"--- last {tail:,} of {tail + cut:,} characters of output ---")
    elif shown:
        lines.append("--- output ---")
    if shown:
        lines.append(shown)
    return "\n".join(lines)


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
