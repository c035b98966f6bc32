"""The benchmark's tiny run: every case still runs and prints a number (no timing asserted)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from kimitui.bench.__main__ import CASES
from kimitui.bench.report import HEADER

NUMBER = re.compile(r"^-?[\d,]+(\.\d+)?( \S+)?$")
# Every case prints at least these rows (their names start with the case's label).
EXPECTED = {
    "stream": ["stream 300 tok/s: kimitui CPU", "stream 300 tok/s: Markdown get_stream()"],
    "burst": ["burst", "burst"],
    "keys": ["key → screen while streaming"],
    "session": ["session", "session: RSS growth", "session: CPU streaming"],
    "cli": ["kimitui --version", "kimitui --help"],
    "startup": ["TUI start → first frame"],
    "review": ["review", "review: page scroll", "review: view open, arguments in token"],
    "tree": ["tree", "tree: outside change", "tree: watcher idle CPU"],
    "engine": ["engine", "engine: overhead per step, last", "engine: steps done", "engine: RSS"],
    "tokens": ["tokens: demo tool results, once", "tokens: demo tool results, re-sent"],
    "sandbox": ["sandbox start-up per run (bwrap)", "sandbox start-up per run (landlock)"],
    "checkpoint": [
        "checkpoint: first snapshot",
        "checkpoint: snapshot after the first",
        "checkpoint: undo one step",
    ],
    "compare": ["compare 2 models x 2 repeats, --jobs 1", "compare 2 models x 2 repeats, --jobs 2"],
}


def _rows(stdout: str) -> list[list[str]]:
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert cells[0] == HEADER
    return cells[2:]


def test_quick_run_prints_every_case_with_numbers(tmp_path: Path) -> None:
    users_state = tmp_path / "state"
    done = subprocess.run(
        [sys.executable, "-m", "kimitui.bench", "--quick"],
        capture_output=True,
        text=True,
        timeout=150,
        env={**os.environ, "KIMITUI_STATE_DIR": str(users_state)},
    )
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    rows = _rows(done.stdout)
    names = [row[0] for row in rows]
    assert set(EXPECTED) == set(CASES)
    for case, prefixes in EXPECTED.items():
        for prefix in prefixes:
            assert any(name.startswith(prefix) for name in names), (case, prefix, names)
    for row in rows:
        case, median, spread, _target, _ratio, result = row
        if result == "n/a":
            continue
        assert result in ("PASS", "MISS", "info"), row
        assert NUMBER.match(median), row
        low, _, high = spread.partition("-")
        assert NUMBER.match(low) and NUMBER.match(high.split(" ")[0]), row
    # The runs saved their sessions somewhere of their own, not among the user's.
    assert not list(users_state.rglob("*.jsonl"))
