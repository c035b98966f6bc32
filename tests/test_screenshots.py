"""The screenshot command runs end to end (at a small size) and never rots."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kimitui.screenshots import SCENES

EXPECTED = {
    "demo-streaming": "thinking",
    "review-partial": "hunk",
    "paused-with-message": "paused",
    "budget-near-limit": "budget",
    "light-theme": "transcript",
}


def test_screenshot_command_writes_every_svg(tmp_path: Path) -> None:
    out = tmp_path / "shots"
    done = subprocess.run(
        [sys.executable, "-m", "kimitui.screenshots", "--out", str(out), "--size", "100x30"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert {s.name for s in SCENES} == set(EXPECTED)
    for name, text in EXPECTED.items():
        svg = (out / f"{name}.svg").read_text()
        assert svg.startswith("<svg") and text in svg, name
