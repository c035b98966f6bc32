"""The session picker (`kimitui --resume` with no id) and the CLI path to it."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from test_cli import clean_env

from kimitui.core.catalog import SessionSummary
from kimitui.tui.picker import SessionPicker


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    # Start times are shown in local time; the snapshot must not depend on the machine's zone.
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def summary(n: int, *, ended: str = "finished", task: str = "") -> SessionSummary:
    return SessionSummary(
        id=f"2026112{n}-0000-abcdef{n:02}",
        project="/home/dev/shop",
        started=f"2026-11-2{n}T09:3{n}:00+00:00",
        steps=n * 3,
        tokens=n * 12_345,
        cost=None if n == 1 else n * 0.0125,
        task=task or f"task number {n}: split app.py by concern and keep the tests passing",
        ended=ended,
    )


SESSIONS = [summary(3, ended="unfinished"), summary(2), summary(1, ended="max_steps")]


async def test_enter_resumes_the_highlighted_session_and_esc_leaves() -> None:
    app = SessionPicker(SESSIONS, "/home/dev/shop")
    async with app.run_test(size=(120, 20)) as pilot:
        detail = str(app.query_one("#picker-detail").render())
        assert SESSIONS[0].id in detail and "unfinished (stopped mid-run)" in detail
        await pilot.press("down")
        assert SESSIONS[1].task in str(app.query_one("#picker-detail").render())
        await pilot.press("enter")
    assert app.return_value == SESSIONS[1].id

    app = SessionPicker(SESSIONS, "/home/dev/shop")
    async with app.run_test(size=(120, 20)) as pilot:
        await pilot.press("escape")
    assert app.return_value is None


def test_the_picker_looks_right(snap_compare: Any) -> None:
    assert snap_compare(SessionPicker(SESSIONS, "/home/dev/shop"), terminal_size=(110, 14))


def run_in_a_terminal(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """kimitui with a pty as its terminal (the TUI refuses to start without one)."""
    main, side = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimitui", *args], stdin=side, stdout=side, stderr=side, env=env
    )
    os.close(side)
    code = proc.wait(timeout=60)
    output = b""
    with contextlib.suppress(OSError):  # EIO once the child's side is closed and drained
        while chunk := os.read(main, 65536):
            output += chunk
    os.close(main)
    return code, output.decode(errors="replace").replace("\r\n", "\n")


def test_resume_without_an_id_and_nothing_saved_says_so(tmp_path: Path) -> None:
    project = tmp_path / "empty"
    project.mkdir()
    env = clean_env(KIMITUI_STATE_DIR=str(tmp_path / "state"), MOONSHOT_API_KEY="sk-test")
    code, output = run_in_a_terminal(str(project), "--resume", env=env)
    assert code == 2, output
    assert f"no saved session for {project.resolve()} to resume" in output.replace("\n", "")


def test_resume_without_an_id_opens_the_picker_and_esc_starts_nothing(tmp_path: Path) -> None:
    env = clean_env(KIMITUI_STATE_DIR=str(tmp_path / "state"))
    target = tmp_path / "demo"
    first = subprocess.run(
        [sys.executable, "-m", "kimitui", str(target), "--demo", "--headless"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert first.returncode == 0, first.stderr
    before = sorted(p.stat().st_mtime_ns for p in (tmp_path / "state").rglob("*.jsonl"))

    main, side = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimitui", str(target), "--demo", "--resume"],
        stdin=side,
        stdout=side,
        stderr=side,
        env={**env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "30"},
    )
    os.close(side)
    seen = read_until(main, b"saved session", 30)
    os.write(main, b"\x1b")
    code = proc.wait(timeout=30)
    os.close(main)

    assert b"saved session" in seen, seen[-500:]
    assert code == 0
    after = sorted(p.stat().st_mtime_ns for p in (tmp_path / "state").rglob("*.jsonl"))
    assert after == before  # nothing was resumed, so nothing was written


def read_until(fd: int, marker: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen
