"""The summary the launcher prints after the TUI exits: the function, and the real CLI on a pty."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from test_cli import clean_env

from kimitui.core.budget import Budget, Prices, TokenUsage
from kimitui.core.journal import Journal
from kimitui.quitsummary import MAX_NAMES, files_changed, quit_summary, resume_command

ANSI = re.compile(r"\x1b\[[0-9;?<>=$ ]*[A-Za-z~]|\x1b[()][A-Z0-9]|\x1b[=>]|\x1b\][^\x07]*\x07")


def journal_with(tmp_path: Path, paths: list[str], undone: tuple[int, ...] = ()) -> Journal:
    """A journal file as kimitui writes it: one apply line per edit, an undo line per revert."""
    file = tmp_path / "journal.jsonl"
    lines = [
        {"op": "apply", "seq": n, "path": p, "tool": "write_file", "call_id": f"c{n}",
         "before": None, "after": "x\n", "at": 0.0}
        for n, p in enumerate(paths, 1)
    ]  # fmt: skip
    lines += [{"op": "undo", "seq": n, "at": 0.0} for n in undone]
    file.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return Journal(file)


def spent(steps: int = 3, cost: float | None = 0.01234) -> Budget:
    budget = Budget(prices=Prices(currency="USD"))
    budget.restore(
        steps=steps,
        used=TokenUsage(prompt=12_345, completion=2_000, cached=10_000),
        last_prompt=0,
        cost=cost,
        elapsed=0.0,
    )
    return budget


def test_the_summary_lists_files_tokens_cost_and_the_resume_command(tmp_path: Path) -> None:
    journal = journal_with(tmp_path, ["app.py", "models.py", "app.py", "gone.py"], undone=(4,))
    assert files_changed(journal) == ["app.py", "models.py"]  # gone.py was undone again
    text = quit_summary(spent(), journal, "kimitui --resume abc123")
    assert "files changed  2: app.py, models.py" in text
    assert "12,345 prompt (10,000 cached) · 2,000 completion · 3 step(s)" in text
    assert "cost           0.0123 USD" in text
    assert text.splitlines()[-1] == "  resume with    kimitui --resume abc123"


def test_many_files_are_capped_and_hostile_names_are_escaped(tmp_path: Path) -> None:
    names = [f"f{n}.py" for n in range(MAX_NAMES + 4)] + ["evil\x1b]0;pwned\x07.py"]
    text = quit_summary(spent(cost=None), journal_with(tmp_path, names), "")
    assert f"files changed  {len(names)}: f0.py" in text
    assert "and 5 more" in text and "f8.py" not in text
    assert "unknown (no prices" in text
    assert "resume" not in text  # an unsaved session has nothing to resume
    loud = quit_summary(spent(), journal_with(tmp_path, ["evil\x1b]0;pwned\x07.py"]), "")
    assert "\x1b" not in loud and "evil\\x1b]0;pwned\\x07.py" in loud


def test_a_session_that_did_nothing_prints_nothing(tmp_path: Path) -> None:
    assert quit_summary(Budget(), journal_with(tmp_path, []), "kimitui --resume x") == ""
    assert resume_command("abc", None) == ""
    assert resume_command("abc", tmp_path / "missing.jsonl") == ""
    saved = tmp_path / "s.jsonl"
    saved.write_text(json.dumps({"kind": "header", "demo": True}) + "\n")
    assert resume_command("abc", saved) == "kimitui --resume abc --demo"


def in_a_terminal(args: list[str], env: dict[str, str], ready: bytes) -> tuple[int, str]:
    """kimitui on a pty: wait until ``ready`` is drawn, press ctrl+q, read all it prints."""
    main, side = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimitui", *args],
        stdin=side,
        stdout=side,
        stderr=side,
        env={**env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "30"},
    )
    os.close(side)
    output = read(main, until=ready, timeout=60)
    assert ready in output, output[-800:]
    os.write(main, b"\x11")  # ctrl+q
    code = proc.wait(timeout=60)
    output += read(main, until=None, timeout=5)
    os.close(main)
    return code, ANSI.sub("", output.decode(errors="replace")).replace("\r\n", "\n")


def read(fd: int, until: bytes | None, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while (until is None or until not in seen) and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed its side and all was read
            break
        if not chunk:
            break
        seen += chunk
    return seen


def test_quitting_the_tui_prints_the_summary_to_the_terminal(tmp_path: Path) -> None:
    env = clean_env(KIMITUI_STATE_DIR=str(tmp_path / "state"))
    target = tmp_path / "demo"
    first = subprocess.run(
        [sys.executable, "-m", "kimitui", str(target), "--demo", "--headless", "--json",
         "--approve", "auto"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    events = [json.loads(line) for line in first.stdout.splitlines()]
    session = next(e["id"] for e in events if e["type"] == "session")
    edited = sorted({e["path"] for e in events if e["type"] == "decision"})
    assert edited

    code, output = in_a_terminal(
        [str(target), "--demo", "--resume", session], env, ready=b"resumed here"
    )
    assert code == 0, output[-800:]
    summary = output[output.index("kimitui session summary") :]
    changed = re.search(r"files changed  (\d+): (.*)", summary)
    assert changed is not None, summary
    assert int(changed.group(1)) == len(edited)
    assert all(path in changed.group(2) for path in edited)
    assert re.search(r"tokens         [\d,]+ prompt \([\d,]+ cached\) · [\d,]+ completion", summary)
    assert "cost           none (the demo's scripted model)" in summary
    assert f"resume with    kimitui --resume {session} --demo" in summary


def test_quitting_before_anything_happened_prints_no_summary(tmp_path: Path) -> None:
    project = tmp_path / "quiet"
    project.mkdir()
    env = clean_env(KIMITUI_STATE_DIR=str(tmp_path / "state"), MOONSHOT_API_KEY="sk-test")
    code, output = in_a_terminal([str(project)], env, ready=b"transcript")
    assert code == 0, output[-800:]
    assert "session summary" not in output
    assert "kimitui --resume" not in output


def test_files_a_command_changed_are_counted_through_the_checkpoints(tmp_path: Path) -> None:
    from kimitui.core.checkpoints import Checkpoints

    project = tmp_path / "proj"
    project.mkdir()
    (project / "keep.py").write_text("k = 1\n")
    (project / "old.txt").write_text("old\n")
    store = Checkpoints(project, "s1", base=tmp_path / "state")
    assert store.changed_files() == []  # nothing happened yet
    store.step = 1
    store.take()
    (project / "old.txt").unlink()  # what a command might do: delete, create, change
    (project / "new.txt").write_text("new\n")
    (project / "keep.py").write_text("k = 2\n")
    store.mark_after()
    changed = store.changed_files()
    assert changed == ["keep.py", "new.txt", "old.txt"]
    text = quit_summary(spent(), journal_with(tmp_path, []), "", changed=changed)
    assert "files changed  3: keep.py, new.txt, old.txt" in text
    store.undo()
    assert store.changed_files() == []  # all undone: nothing is left changed
