"""Line endings, BOM and final newline survive every write: a table, byte-checked on disk.

The model sees LF text (read_file shows no "\\r" and no BOM) and writes LF
text; every result below is the exact bytes the file must hold afterwards.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kimitui.tools import Decision, Toolbox, Workspace, apply_decision
from kimitui.tools.files import read_file

BOM = b"\xef\xbb\xbf"

FILES: dict[str, bytes] = {
    "lf": b"a\nb\nc\n",
    "crlf": b"a\r\nb\r\nc\r\n",
    "mixed": b"a\r\nb\nc\r\n",  # two CRLF, one LF: new lines get CRLF, old lines keep theirs
    "bom": BOM + b"a\r\nb\r\nc\r\n",
    "nofinal": b"a\nb\nc",
    "nofinal_crlf": b"a\r\nb\r\nc",
}

# (tool, arguments) as the model sends them: LF text, no BOM, usually a final newline.
OPS: dict[str, tuple[str, dict]] = {
    "one_line_start": ("edit_file", {"old_string": "a", "new_string": "a\nA2"}),
    "one_line_end": ("edit_file", {"old_string": "c", "new_string": "c\nC2"}),
    "multi_line_start": ("edit_file", {"old_string": "a\nb", "new_string": "X\nY\nZ"}),
    "multi_line_end": ("edit_file", {"old_string": "b\nc", "new_string": "B\nC"}),
    "leading_newline": ("edit_file", {"old_string": "\nb", "new_string": "\nb\nb2"}),
    "write_file": ("write_file", {"content": "a\nb2\nc\nd\n"}),
}

EXPECTED: dict[tuple[str, str], bytes] = {
    ("lf", "one_line_start"): b"a\nA2\nb\nc\n",
    ("lf", "one_line_end"): b"a\nb\nc\nC2\n",
    ("lf", "multi_line_start"): b"X\nY\nZ\nc\n",
    ("lf", "multi_line_end"): b"a\nB\nC\n",
    ("lf", "leading_newline"): b"a\nb\nb2\nc\n",
    ("lf", "write_file"): b"a\nb2\nc\nd\n",
    ("crlf", "one_line_start"): b"a\r\nA2\r\nb\r\nc\r\n",
    ("crlf", "one_line_end"): b"a\r\nb\r\nc\r\nC2\r\n",
    ("crlf", "multi_line_start"): b"X\r\nY\r\nZ\r\nc\r\n",
    ("crlf", "multi_line_end"): b"a\r\nB\r\nC\r\n",
    ("crlf", "leading_newline"): b"a\r\nb\r\nb2\r\nc\r\n",
    ("crlf", "write_file"): b"a\r\nb2\r\nc\r\nd\r\n",
    ("mixed", "one_line_start"): b"a\r\nA2\r\nb\nc\r\n",
    ("mixed", "one_line_end"): b"a\r\nb\nc\r\nC2\r\n",
    ("mixed", "multi_line_start"): b"X\r\nY\r\nZ\r\nc\r\n",
    ("mixed", "multi_line_end"): b"a\r\nB\r\nC\r\n",
    ("mixed", "leading_newline"): b"a\r\nb\nb2\r\nc\r\n",
    ("mixed", "write_file"): b"a\r\nb2\r\nc\r\nd\r\n",
    ("bom", "one_line_start"): BOM + b"a\r\nA2\r\nb\r\nc\r\n",
    ("bom", "one_line_end"): BOM + b"a\r\nb\r\nc\r\nC2\r\n",
    ("bom", "multi_line_start"): BOM + b"X\r\nY\r\nZ\r\nc\r\n",
    ("bom", "multi_line_end"): BOM + b"a\r\nB\r\nC\r\n",
    ("bom", "leading_newline"): BOM + b"a\r\nb\r\nb2\r\nc\r\n",
    ("bom", "write_file"): BOM + b"a\r\nb2\r\nc\r\nd\r\n",
    ("nofinal", "one_line_start"): b"a\nA2\nb\nc",
    ("nofinal", "one_line_end"): b"a\nb\nc\nC2",
    ("nofinal", "multi_line_start"): b"X\nY\nZ\nc",
    ("nofinal", "multi_line_end"): b"a\nB\nC",
    ("nofinal", "leading_newline"): b"a\nb\nb2\nc",
    ("nofinal", "write_file"): b"a\nb2\nc\nd",
    ("nofinal_crlf", "one_line_start"): b"a\r\nA2\r\nb\r\nc",
    ("nofinal_crlf", "one_line_end"): b"a\r\nb\r\nc\r\nC2",
    ("nofinal_crlf", "multi_line_start"): b"X\r\nY\r\nZ\r\nc",
    ("nofinal_crlf", "multi_line_end"): b"a\r\nB\r\nC",
    ("nofinal_crlf", "leading_newline"): b"a\r\nb\r\nb2\r\nc",
    ("nofinal_crlf", "write_file"): b"a\r\nb2\r\nc\r\nd",
}


async def propose_and_apply(root: Path, tool: str, args: dict) -> tuple[str, str]:
    """Run one tool call, approve it whole; (proposal result, applied message)."""
    box = Toolbox(Workspace(root))
    box.workspace.read_paths.add("f.txt")
    result = await box.call("c1", tool, {"path": "f.txt", **args})
    assert result.ok and result.edit is not None, result.output
    applied = apply_decision(box.workspace, result.edit, Decision.approve_all(result.edit))
    return result.edit.diff, applied


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("style", list(FILES))
async def test_line_endings_bom_and_final_newline_round_trip(
    tmp_path: Path, style: str, op: str
) -> None:
    (tmp_path / "f.txt").write_bytes(FILES[style])
    tool, args = OPS[op]
    diff, applied = await propose_and_apply(tmp_path, tool, args)
    assert applied.startswith("Applied"), applied
    assert (tmp_path / "f.txt").read_bytes() == EXPECTED[(style, op)]
    # The diff the user approved shows no line as changed whose text is the same:
    # 35 lines "changed" by their endings alone was the bug.
    changed = {
        line[1:]
        for line in diff.splitlines()
        if line[:1] in "+-" and line[:3] not in ("---", "+++")
    }
    if op == "write_file":
        # "c" gains a newline where a file without a final one grows past it
        grew = {"c"} if style.startswith("nofinal") else set()
        assert changed == {"b", "b2", "d"} | grew


@pytest.mark.parametrize("style", ["crlf", "mixed", "bom", "nofinal"])
async def test_model_text_with_crlf_is_conformed_too(tmp_path: Path, style: str) -> None:
    """A model that copies CRLF into old_string and new_string gets the same bytes."""
    (tmp_path / "f.txt").write_bytes(FILES[style])
    await propose_and_apply(
        tmp_path, "edit_file", {"old_string": "a\r\nb", "new_string": "X\r\nY\r\nZ"}
    )
    assert (tmp_path / "f.txt").read_bytes() == EXPECTED[(style, "multi_line_start")]


async def test_the_make_bat_insertion_from_the_issue(tmp_path: Path) -> None:
    make_bat = b"@ECHO OFF\r\nset BUILDDIR=build\r\nset SOURCEDIR=.\r\n"
    (tmp_path / "f.txt").write_bytes(make_bat)
    await propose_and_apply(
        tmp_path,
        "edit_file",
        {"old_string": "set BUILDDIR=build", "new_string": "set BUILDDIR=build\nset SPHINXOPTS=-W"},
    )
    assert (tmp_path / "f.txt").read_bytes() == (
        b"@ECHO OFF\r\nset BUILDDIR=build\r\nset SPHINXOPTS=-W\r\nset SOURCEDIR=.\r\n"
    )


async def test_rewriting_a_crlf_file_with_the_same_lf_text_changes_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "f.txt").write_bytes(FILES["bom"])
    result = await Toolbox(Workspace(tmp_path)).call(
        "c", "write_file", {"path": "f.txt", "content": "a\nb\nc\n"}
    )
    assert result.edit is None
    assert result.output == "f.txt already has exactly this content; nothing to do"


async def test_an_edit_that_only_adds_the_final_newline_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_bytes(FILES["nofinal"])
    result = await Toolbox(Workspace(tmp_path)).call(
        "c", "edit_file", {"path": "f.txt", "old_string": "c", "new_string": "c\n"}
    )
    assert not result.ok and "changes nothing in f.txt" in result.output
    assert (tmp_path / "f.txt").read_bytes() == FILES["nofinal"]


async def test_new_files_are_written_as_given(tmp_path: Path) -> None:
    _, applied = await propose_and_apply(tmp_path, "write_file", {"content": "x\r\ny"})
    assert applied.startswith("Applied")
    assert (tmp_path / "f.txt").read_bytes() == b"x\r\ny"


@pytest.mark.parametrize(
    ("style", "said"),
    [
        ("lf", None),
        ("crlf", "CRLF line endings (edits keep them)"),
        ("mixed", "mixed line endings (2 CRLF, 1 LF) (edits keep them)"),
        ("bom", "CRLF line endings; UTF-8 BOM (edits keep them)"),
        ("nofinal", "no final newline (edits keep them)"),
        ("nofinal_crlf", "CRLF line endings; no final newline (edits keep them)"),
    ],
)
def test_read_file_header_says_the_conventions(tmp_path: Path, style: str, said: str) -> None:
    (tmp_path / "f.txt").write_bytes(FILES[style])
    out = read_file(Workspace(tmp_path), "f.txt")
    header, *lines = out.splitlines()
    size = len(FILES[style])
    expected = f"f.txt (lines 1-3 of 3, {size} bytes" + (f"; {said})" if said else ")")
    assert header == expected
    assert lines == ["1\ta", "2\tb", "3\tc"]  # text only: no "\r", no BOM


@pytest.mark.parametrize(
    ("before", "content", "after"),
    [
        (b"", "x\r\ny\r\n", b"x\r\ny\r\n"),  # empty: nothing to learn from
        (b"one line", "a\r\nb\r\n", b"a\r\nb"),  # no break yet: no final newline kept
        (BOM + b"one", "a\nb\n", BOM + b"a\nb"),
    ],
)
async def test_files_without_a_line_break_keep_the_models_breaks(
    tmp_path: Path, before: bytes, content: str, after: bytes
) -> None:
    (tmp_path / "f.txt").write_bytes(before)
    _, applied = await propose_and_apply(tmp_path, "write_file", {"content": content})
    assert applied.startswith("Applied")
    assert (tmp_path / "f.txt").read_bytes() == after
