"""Proposed edits: hunks, exact partial application, decisions and conflicts."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kimitui.tools import Decision, Workspace, apply_decision, apply_hunks, make_edit
from kimitui.tools.edits import EditError, Hunk, make_hunks, replace_exact, split_lines

TEN = "".join(f"line {i}\n" for i in range(1, 31))


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    (tmp_path / "app.py").write_text(TEN)
    return Workspace(tmp_path)


def two_hunk_edit(ws: Workspace):
    new = TEN.replace("line 2\n", "line two\n").replace("line 25\n", "line 25\nline 25b\n")
    return make_edit(ws, call_id="c1", tool="write_file", path="app.py", new_text=new)


# -- diffs and hunks ----------------------------------------------------------------


def test_make_edit_builds_hunks_and_diff(ws: Workspace) -> None:
    edit = two_hunk_edit(ws)
    assert [h.header for h in edit.hunks] == ["@@ -1,5 +1,5 @@", "@@ -23,6 +23,7 @@"]
    assert edit.diff.startswith("--- a/app.py\n+++ b/app.py\n@@ -1,5 +1,5 @@\n line 1\n-line 2\n")
    assert (edit.added, edit.removed) == (2, 1)
    assert edit.hunks[1].lines[2:5] == (" line 25", "+line 25b", " line 26")
    assert edit.old_text == TEN and edit.id == "c1" and edit.path == "app.py"


def test_new_file_diff_and_flags(ws: Workspace) -> None:
    edit = make_edit(ws, call_id="c", tool="write_file", path="pkg/new.py", new_text="a\nb")
    assert edit.old_text is None and not edit.unread_overwrite
    assert edit.diff.splitlines()[:3] == ["--- /dev/null", "+++ b/pkg/new.py", "@@ -0,0 +1,2 @@"]
    assert "\\ No newline at end of file" in edit.diff
    assert (edit.added, edit.removed) == (2, 0)


def test_unread_overwrite_flag(ws: Workspace) -> None:
    edit = make_edit(ws, call_id="c", tool="write_file", path="app.py", new_text="x\n")
    assert edit.unread_overwrite
    ws.read_paths.add("app.py")
    edit = make_edit(ws, call_id="c", tool="write_file", path="app.py", new_text="x\n")
    assert not edit.unread_overwrite


def test_split_lines_only_on_newline() -> None:
    assert split_lines("a\r\nb\x0cc\u2028d") == ["a\r\n", "b\x0cc\u2028d"]
    assert split_lines("") == [] and split_lines("\n") == ["\n"]


# -- edit_file matching table ----------------------------------------------------------

CASES = [
    # (name, text, old, new, replace_all, expected text or error fragment)
    ("unique", "a = 1\nb = 2\n", "b = 2", "b = 3", False, "a = 1\nb = 3\n"),
    ("none", "a = 1\n", "c = 1", "c = 2", False, "0 matches"),
    (
        "two",
        "x = 1\ny = 2\nx = 1\n",
        "x = 1",
        "x = 9",
        False,
        "2 times in f.py (starting at lines 1, 3)",
    ),
    ("crlf", "a\r\nb\r\nc\r\n", "a\nb", "A\nB", False, "A\r\nB\r\nc\r\n"),
    ("crlf exact", "a\r\nb\r\n", "b\r\n", "B\r\n", False, "a\r\nB\r\n"),
    ("no trailing newline", "a\nlast", "last", "final", False, "a\nfinal"),
    ("unicode", "naïve = 'café' # ☕\n", "'café'", "'thé'", False, "naïve = 'thé' # ☕\n"),
    ("replace_all", "x\ny x\nx\n", "x", "z", True, "z\ny z\nz\n"),
    ("empty old", "a\n", "", "b", False, "old_string is empty"),
    ("identical", "a\n", "a", "a", False, "identical"),
]


@pytest.mark.parametrize(
    ("name", "text", "old", "new", "replace_all", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_replace_exact_table(
    name: str, text: str, old: str, new: str, replace_all: bool, expected: str
) -> None:
    if name in ("none", "two", "empty old", "identical"):
        with pytest.raises(EditError) as info:
            replace_exact(text, old, new, replace_all=replace_all, path="f.py")
        assert expected in str(info.value)
    else:
        assert replace_exact(text, old, new, replace_all=replace_all, path="f.py") == expected


def test_many_matches_are_listed_briefly() -> None:
    with pytest.raises(EditError) as info:
        replace_exact("x\n" * 30, "x", "y", replace_all=False, path="f")
    assert "30 times" in str(info.value) and "and 10 more" in str(info.value)


# -- apply_hunks: exact partial application -------------------------------------------


@st.composite
def separated_blocks(draw: st.DrawFn) -> tuple[list[str], list[tuple[int, int, list[str]]]]:
    """Unique old lines and well-separated edit blocks: each block becomes one hunk."""
    n_blocks = draw(st.integers(1, 5))
    blocks = []
    pos = draw(st.integers(0, 3))
    for b in range(n_blocks):
        removed = draw(st.integers(0, 3))
        added = [f"new {b}.{k}\n" for k in range(draw(st.integers(0 if removed else 1, 3)))]
        blocks.append((pos, removed, added))
        pos += removed + 7 + draw(st.integers(0, 4))  # > 2 * context lines apart
    old = [f"old {i}\n" for i in range(pos)]
    return old, blocks


def _apply_blocks(old: list[str], blocks: list[tuple[int, int, list[str]]]) -> str:
    out, cursor = [], 0
    for start, removed, added in blocks:
        out += old[cursor:start] + added
        cursor = start + removed
    return "".join(out + old[cursor:])


@settings(max_examples=200, deadline=None)
@given(data=separated_blocks(), picks=st.lists(st.booleans(), min_size=5, max_size=5))
def test_apply_hunks_subset_equals_blocks_applied(data, picks: list[bool]) -> None:
    old, blocks = data
    new_text = _apply_blocks(old, blocks)
    hunks = make_hunks("".join(old), new_text)
    assert len(hunks) == len(blocks)
    chosen = [i for i in range(len(blocks)) if picks[i]]
    expected = _apply_blocks(old, [blocks[i] for i in chosen])
    assert apply_hunks("".join(old), hunks, chosen) == expected


_LINE = st.sampled_from(["a\n", "b\n", "c\n", "a\r\n", "é\n", "\n", "b", "x\ty\n"])


def _oracle(old_text: str, new_text: str, hunks: tuple[Hunk, ...], chosen: set[int]) -> str:
    """Swap whole hunk ranges using only the header numbers and the two texts."""
    old, new = split_lines(old_text), split_lines(new_text)
    out, cursor = [], 0
    for h in hunks:
        o = h.old_start - 1 if h.old_count else h.old_start
        n = h.new_start - 1 if h.new_count else h.new_start
        out += old[cursor:o]
        out += new[n : n + h.new_count] if h.index in chosen else old[o : o + h.old_count]
        cursor = o + h.old_count
    return "".join(out + old[cursor:])


def _text(lines: list[str]) -> str:
    # Only the last line may lack a newline.
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines[:-1]) + (
        lines[-1] if lines else ""
    )


@settings(max_examples=300, deadline=None)
@given(
    old=st.lists(_LINE, max_size=40).map(_text),
    new=st.lists(_LINE, max_size=40).map(_text),
    picks=st.lists(st.booleans(), min_size=40, max_size=40),
)
def test_apply_hunks_any_subset_matches_oracle(old: str, new: str, picks: list[bool]) -> None:
    hunks = make_hunks(old, new)
    chosen = {h.index for h in hunks if picks[h.index]}
    assert apply_hunks(old, hunks, {h.index for h in hunks}) == new
    assert apply_hunks(old, hunks, ()) == old
    assert apply_hunks(old, hunks, chosen) == _oracle(old, new, hunks, chosen)


def test_apply_hunks_without_new_lines_uses_display_lines() -> None:
    old, new = "a\nb\nc", "a\nB\nC"
    hunks = tuple(
        Hunk(h.index, h.header, h.old_start, h.old_count, h.new_start, h.new_count, h.lines)
        for h in make_hunks(old, new)
    )
    assert apply_hunks(old, hunks, {0}) == new


def test_apply_hunks_rejects_hunks_that_do_not_fit() -> None:
    hunks = make_hunks("a\nb\nc\nd\n", "a\nb\nc\nD\n")
    with pytest.raises(ValueError, match="does not fit"):
        apply_hunks("a\n", hunks, {0})


# -- apply_decision -----------------------------------------------------------------


def test_approved_writes_and_reports_counts(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "app.py").chmod(0o755)
    edit = two_hunk_edit(ws)
    message = apply_decision(ws, edit, Decision.approve_all(edit))
    assert message == "Applied write_file to app.py (+2 -1)."
    assert (tmp_path / "app.py").read_text() == edit.new_text
    assert stat.S_IMODE((tmp_path / "app.py").stat().st_mode) == 0o755
    assert "app.py" in ws.read_paths


def test_rejected_never_touches_disk(ws: Workspace, tmp_path: Path) -> None:
    edit = two_hunk_edit(ws)
    target = tmp_path / "app.py"
    before = target.stat()
    message = apply_decision(ws, edit, Decision.reject("use a constant instead"))
    assert "rejected" in message and "unchanged" in message
    assert "use a constant instead" in message
    assert target.read_text() == TEN
    assert target.stat().st_mtime_ns == before.st_mtime_ns and target.stat().st_ino == before.st_ino


def test_partial_applies_only_chosen_hunks(ws: Workspace, tmp_path: Path) -> None:
    edit = two_hunk_edit(ws)
    message = apply_decision(ws, edit, Decision("partial", (1,), "keep line 2"))
    assert (tmp_path / "app.py").read_text() == TEN.replace("line 25\n", "line 25\nline 25b\n")
    assert "approved 1 of 2 hunks" in message
    assert "Applied hunks: @@ -23,6 +23,7 @@" in message
    assert "Rejected hunks (not applied): @@ -1,5 +1,5 @@" in message
    assert "keep line 2" in message and "(+1 -0)" in message


def test_partial_with_no_hunks_changes_nothing(ws: Workspace, tmp_path: Path) -> None:
    edit = two_hunk_edit(ws)
    message = apply_decision(ws, edit, Decision("partial", ()))
    assert "rejected every hunk" in message and "unchanged" in message
    assert (tmp_path / "app.py").read_text() == TEN


def test_user_edited_content_is_written_and_diffed(ws: Workspace, tmp_path: Path) -> None:
    edit = two_hunk_edit(ws)
    mine = edit.new_text.replace("line two\n", "line 2 (kept)\n")
    message = apply_decision(ws, edit, Decision("approved", content=mine, feedback="tweaked"))
    assert (tmp_path / "app.py").read_text() == mine
    assert "user edited your proposal" in message
    assert "-line two\n+line 2 (kept)" in message
    assert "--- your proposal" in message and "tweaked" in message


def test_conflict_when_file_changed_on_disk(ws: Workspace, tmp_path: Path) -> None:
    edit = two_hunk_edit(ws)
    (tmp_path / "app.py").write_text("someone else\n")
    message = apply_decision(ws, edit, Decision.approve_all(edit))
    assert "NOT applied" in message
    assert "was modified on disk" in message and "Read the file again" in message
    assert (tmp_path / "app.py").read_text() == "someone else\n"


def test_conflict_when_new_file_appeared(ws: Workspace, tmp_path: Path) -> None:
    edit = make_edit(ws, call_id="c", tool="write_file", path="new.py", new_text="mine\n")
    (tmp_path / "new.py").write_text("theirs\n")
    message = apply_decision(ws, edit, Decision.approve_all(edit))
    assert "NOT applied" in message and "now exists on disk" in message
    assert (tmp_path / "new.py").read_text() == "theirs\n"


def test_conflict_when_file_deleted(ws: Workspace, tmp_path: Path) -> None:
    edit = two_hunk_edit(ws)
    (tmp_path / "app.py").unlink()
    message = apply_decision(ws, edit, Decision.approve_all(edit))
    assert "was deleted on disk" in message
    assert not (tmp_path / "app.py").exists()


def test_crlf_file_partial_apply_keeps_endings(tmp_path: Path) -> None:
    old = "".join(f"l{i}\r\n" for i in range(20))
    (tmp_path / "w.txt").write_bytes(old.encode())
    ws = Workspace(tmp_path)
    new = old.replace("l1\r\n", "L1\r\n").replace("l18\r\n", "L18\r\n")
    edit = make_edit(ws, call_id="c", tool="write_file", path="w.txt", new_text=new)
    apply_decision(ws, edit, Decision("partial", (0,)))
    assert (tmp_path / "w.txt").read_bytes() == old.replace("l1\r\n", "L1\r\n").encode()


def test_file_replaced_by_link_out_is_not_followed(ws: Workspace, tmp_path: Path) -> None:
    edit = two_hunk_edit(ws)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.py"
    outside.write_text(TEN)
    (tmp_path / "app.py").unlink()
    (tmp_path / "app.py").symlink_to(outside)
    message = apply_decision(ws, edit, Decision.approve_all(edit))
    assert "NOT applied" in message and "outside the project folder" in message
    assert outside.read_text() == TEN


def test_approved_with_feedback_and_stray_hunk_indexes(ws: Workspace, tmp_path: Path) -> None:
    edit = two_hunk_edit(ws)
    message = apply_decision(ws, edit, Decision("partial", (0, 1, 7), "fine"))
    assert message == "Applied write_file to app.py (+2 -1).\nUser feedback: fine"
    assert (tmp_path / "app.py").read_text() == edit.new_text


def test_convenience_constructors(ws: Workspace) -> None:
    edit = two_hunk_edit(ws)
    assert Decision.approve_all(edit) == Decision("approved", (0, 1))
    assert Decision.reject("no") == Decision("rejected", (), "no")
    assert Decision.partial([1, 1, 0]).hunks == (0, 1)
    assert Decision.edited("x\n").content == "x\n"
