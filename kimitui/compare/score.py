"""A run's result, judged by the project's own tests, run once more after the model stops.

The same runner the model's ``run_tests`` uses (the project's test command, in
the sandbox), so a score means what the model itself would have seen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kimitui.tools.errors import ToolError
from kimitui.tools.testrun import TestRunner

_COUNT = re.compile(r"(\d+) (passed|failed|errors?)\b")


@dataclass(frozen=True)
class Score:
    ok: bool  # the test command exited 0
    passed: int
    failed: int  # failed tests plus errors
    summary: str  # the runner's first line, e.g. "run_tests: PASSED (exit code 0): 5 passed..."


def parse_tally(summary: str) -> tuple[int, int]:
    """(passed, failed + errors) from the runner's summary line; (0, 0) when it has none."""
    first = summary.splitlines()[0] if summary else ""
    passed = failed = 0
    for number, word in _COUNT.findall(first):
        if word == "passed":
            passed += int(number)
        else:
            failed += int(number)
    return passed, failed


async def score(tests: TestRunner) -> Score:
    """Run the project's tests in the run's copy; a command that cannot start scores 0/0."""
    try:
        ok, text = await tests.run("compare-score", [])
    except ToolError as err:
        return Score(False, 0, 0, str(err))
    passed, failed = parse_tally(text)
    return Score(ok, passed, failed, text.splitlines()[0] if text else "")
