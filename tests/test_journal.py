"""The undo journal, without a screen."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kimitui.core.journal import Journal
from kimitui.core.statedir import STATE_ENV, state_dir
from kimitui.tools import Decision, Workspace, apply_decision, make_edit

BASE = "one\ntwo\nthree\n"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    project = tmp_path / "project"
    project.mkdir()
    (project / "a.py").write_text(BASE)
    return Workspace(project)


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Journal:
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    return Journal.for_session("s1", "project")


def apply(ws: Workspace, journal: Journal, path: str, text: str) -> None:
    edit = make_edit(ws, call_id=f"call-{path}-{len(text)}", tool="write_file", path=path,
                     new_text=text)  # fmt: skip
    apply_decision(ws, edit, Decision.approve_all(edit), on_write=journal.record)


def test_state_dir_honours_the_env_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "elsewhere"))
    assert state_dir() == tmp_path / "elsewhere"


def test_applied_edits_are_journaled_privately_outside_the_project(
    ws: Workspace, journal: Journal, tmp_path: Path
) -> None:
    apply(ws, journal, "a.py", "ONE\n")
    assert journal.file.parent == tmp_path / "state" / "journal"
    assert stat.S_IMODE(journal.file.stat().st_mode) == 0o600
    assert not any(p.suffix == ".jsonl" for p in ws.root.rglob("*"))
    entry = journal.last
    assert entry is not None and (entry.before, entry.after) == (BASE, "ONE\n")


def test_undo_walks_back_and_reports_to_the_model(ws: Workspace, journal: Journal) -> None:
    apply(ws, journal, "a.py", "first\n")
    apply(ws, journal, "new.py", "created\n")
    ws.read_paths.add("a.py")
    first = journal.undo(ws)
    assert first.ok and not (ws.root / "new.py").exists()
    assert "deleted new.py" in first.message and "new.py was deleted again" in first.note
    second = journal.undo(ws)
    assert second.ok and (ws.root / "a.py").read_text() == BASE
    assert second.note.startswith("Note from kimitui: the user undid your write_file edit")
    assert "a.py" not in ws.read_paths  # what the model read before is stale
    third = journal.undo(ws)
    assert not third.ok and "nothing to undo" in third.message
    again = Journal(journal.file)  # the undone marks survive a restart
    assert again.last is None and len(again.entries) == 2


def test_undo_refuses_when_the_file_changed_since_kimitui_wrote_it(
    ws: Workspace, journal: Journal
) -> None:
    apply(ws, journal, "a.py", "ours\n")
    (ws.root / "a.py").write_text("theirs\n")
    result = journal.undo(ws)
    assert not result.ok and "has changed since kimitui wrote it" in result.message
    assert (ws.root / "a.py").read_text() == "theirs\n"
    assert journal.last is not None  # still there, for when the file is put back


def test_bytes_that_are_not_utf8_round_trip(ws: Workspace, journal: Journal) -> None:
    (ws.root / "bin.txt").write_bytes(b"caf\xe9\n")
    apply(ws, journal, "bin.txt", "cafe\n")
    assert Journal(journal.file).undo(ws).ok
    assert (ws.root / "bin.txt").read_bytes() == b"caf\xe9\n"
