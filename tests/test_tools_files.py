"""list_files and read_file on realistic trees and awkward files."""

from __future__ import annotations

import codecs
import re
import struct
import zlib
from pathlib import Path

import pytest

from kimitui.tools import Toolbox, Workspace
from kimitui.tools.files import list_files, read_file


def write(root: Path, rel: str, text: str | bytes = "x\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for rel in [
        "README.md",
        "src/app.py",
        "src/util.py",
        "src/deep/x.ts",
        "tests/test_app.py",
        "docs/guide.md",
        "logs/keep.log",
        "logs/drop.log",
        "src/gen/out.py",
        "src/gen/keep_me.py",
        ".env",
        "server.pem",
    ]:
        write(tmp_path, rel)
    for rel in [
        "node_modules/pkg/index.js",
        ".venv/lib/site.py",
        "__pycache__/a.pyc",
        "build/lib/app.py",
        "dist/app.whl",
        "pkg.egg-info/PKG-INFO",
        ".git/HEAD",
        ".mypy_cache/x.json",
        "src/mod.pyc",
    ]:
        write(tmp_path, rel)
    write(tmp_path, "myenv/pyvenv.cfg", "home = /usr/bin\n")
    write(tmp_path, "myenv/lib/python3.11/site-packages/x.py")
    write(tmp_path, ".gitignore", "*.log\n!keep.log\n/docs/\n")
    write(tmp_path, "src/.gitignore", "gen/*\n!gen/keep_me.py\n")
    return tmp_path


def listing(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("[")]


def test_list_files_honours_gitignore_and_builtins(tree: Path) -> None:
    out = list_files(Workspace(tree))
    assert listing(out) == [
        ".env  [withheld: secret]",
        ".gitignore",
        "README.md",
        "logs/keep.log",
        "server.pem  [withheld: secret]",
        "src/.gitignore",
        "src/app.py",
        "src/deep/x.ts",
        "src/gen/keep_me.py",
        "src/util.py",
        "tests/test_app.py",
    ]
    assert out.endswith("[11 files in the project]")


def test_list_files_path_and_pattern(tree: Path) -> None:
    ws = Workspace(tree)
    assert listing(list_files(ws, "src", "*.py")) == [
        "src/app.py",
        "src/gen/keep_me.py",
        "src/util.py",
    ]
    assert listing(list_files(ws, ".", "src/**/*.ts")) == ["src/deep/x.ts"]
    assert list_files(ws, "src/app.py") == "src/app.py"
    assert list_files(ws, ".", "*.rs").startswith("no files matching '*.rs'")


def test_list_files_cap_says_how_many_and_how_to_narrow(tmp_path: Path) -> None:
    for i in range(1003):
        (tmp_path / f"f{i:04}.txt").write_text("")
    out = list_files(Workspace(tmp_path), budget=4_000)
    lines = out.splitlines()
    shown = [line for line in lines if line.endswith(".txt")]
    assert len(out) <= 4_000
    assert shown == [f"f{i:04}.txt" for i in range(len(shown))]  # the first in order
    assert lines[0] == f"files ({len(shown)} of 1,003):"
    assert lines[-1] == (
        f"[1,003 files in the project: 0 folders shown with their file counts, and "
        f"{len(shown)} of the files, the nearest to the top first; list a folder with path, "
        "or filter with pattern]"
    )


def test_list_files_does_not_follow_directory_symlinks(tree: Path, tmp_path_factory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "stolen.txt").write_text("x")
    (tree / "escape").symlink_to(outside)
    (tree / "loop").symlink_to(tree)
    out = list_files(Workspace(tree))
    assert "stolen.txt" not in out and "loop/" not in out


def test_list_files_errors(tree: Path) -> None:
    ws = Workspace(tree)
    with pytest.raises(Exception, match="does not exist"):
        list_files(ws, "nope")
    with pytest.raises(Exception, match="outside the project"):
        list_files(ws, "..")


# -- read_file --------------------------------------------------------------------


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


def test_read_range_is_numbered(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "".join(f"line {i}\n" for i in range(1, 11)))
    out = read_file(Workspace(tmp_path), "a.py", 3, 5)
    assert out.splitlines() == [
        "a.py (lines 3-5 of 10, 71 bytes)",
        "3\tline 3",
        "4\tline 4",
        "5\tline 5",
    ]


def test_read_five_megabyte_file_is_bounded_with_a_way_on(tmp_path: Path) -> None:
    line = "x" * 99 + "\n"
    write(tmp_path, "big.txt", line * 52_429)  # 5 MiB
    ws = Workspace(tmp_path)
    out = read_file(ws, "big.txt", budget=16_000)
    assert len(out) <= 16_000
    assert out.startswith("big.txt (lines 1-")
    assert "of 52,429, 5,242,900 bytes)" in out.splitlines()[0]
    last_line = int(out.splitlines()[-2].split("\t")[0])
    assert out.splitlines()[-1].endswith(f"Continue with start_line={last_line + 1}]")
    nxt = read_file(ws, "big.txt", last_line + 1, last_line + 2)
    assert nxt.splitlines()[1].startswith(f"{last_line + 1}\t")
    assert "big.txt" in ws.read_paths


def test_read_file_hard_cap_is_256kb(tmp_path: Path) -> None:
    write(tmp_path, "big.txt", ("y" * 99 + "\n") * 10_000)  # 1 MB
    out = read_file(Workspace(tmp_path), "big.txt", budget=10_000_000)
    assert 200_000 < len(out) <= 256 * 1024 + 10_000
    assert "Continue with start_line=" in out


def test_read_png_is_described_not_dumped(tmp_path: Path) -> None:
    data = png_bytes()
    write(tmp_path, "logo.png", data)
    ws = Workspace(tmp_path)
    out = read_file(ws, "logo.png")
    assert out == (
        f"logo.png: binary file (PNG image, {len(data)} bytes); its contents are not shown"
    )
    assert "logo.png" not in ws.read_paths


def test_read_nul_byte_file_is_binary(tmp_path: Path) -> None:
    write(tmp_path, "data.bin", b"header\x00\x01\x02 more text\n")
    out = read_file(Workspace(tmp_path), "data.bin")
    assert (
        out == "data.bin: binary file (binary data: contains NUL bytes, 20 bytes); "
        "its contents are not shown"
    )


def test_read_latin1_file_reports_encoding(tmp_path: Path) -> None:
    write(tmp_path, "legacy.txt", "prénom = 'Zoë'\nvoilà\n".encode("latin-1"))
    out = read_file(Workspace(tmp_path), "legacy.txt")
    lines = out.splitlines()
    assert lines[1].startswith(
        "note: not valid UTF-8 (first bad byte on line 1); shown decoded as Latin-1"
    )
    assert lines[2:] == ["1\tprénom = 'Zoë'", "2\tvoilà"]


def test_read_mostly_utf8_with_a_bad_byte_uses_replacement(tmp_path: Path) -> None:
    write(tmp_path, "mixed.txt", "café ☕ naïve\n".encode() + b"bad \xff byte\n")
    out = read_file(Workspace(tmp_path), "mixed.txt")
    assert "first bad byte on line 2" in out and "\ufffd" in out
    assert "1\tcafé ☕ naïve" in out


def test_read_utf16_and_bom(tmp_path: Path) -> None:
    write(tmp_path, "w.txt", codecs.BOM_UTF16_LE + "hello\r\nworld\r\n".encode("utf-16-le"))
    write(tmp_path, "b.txt", codecs.BOM_UTF8 + b"bom\n")
    ws = Workspace(tmp_path)
    assert read_file(ws, "w.txt").splitlines()[-2:] == ["1\thello", "2\tworld"]
    assert "UTF-8 BOM" in read_file(ws, "b.txt") and "1\tbom" in read_file(ws, "b.txt")


def test_read_crlf_and_no_trailing_newline(tmp_path: Path) -> None:
    write(tmp_path, "w.txt", b"one\r\ntwo")
    assert read_file(Workspace(tmp_path), "w.txt").splitlines()[1:] == ["1\tone", "2\ttwo"]


def test_read_minified_single_line_is_cut(tmp_path: Path) -> None:
    write(tmp_path, "min.js", "a" * 100_000)
    out = read_file(Workspace(tmp_path), "min.js", budget=5_000)
    assert len(out) < 5_200
    assert out.splitlines()[-1] == (
        "[line 1 is cut: it has 100,000 characters and columns 1-4,400 are shown. "
        "Read on with start_line=1 and start_column=4401]"
    )


def test_read_file_pages_through_a_long_line_to_its_end(tmp_path: Path) -> None:
    line = "".join(f"<{i:05}>" for i in range(6_000))  # 42,000 characters, every window distinct
    write(tmp_path, "min.js", f"first\n{line}\nlast\n")
    ws = Workspace(tmp_path)
    pieces: list[str] = []
    column: int | None = None
    for _ in range(50):
        out = read_file(ws, "min.js", 2, 2, start_column=column, budget=10_000)
        numbered = [row for row in out.splitlines() if row.startswith("2\t")]
        pieces.append(numbered[0].removeprefix("2\t"))
        found = re.search(r"start_column=(\d+)\]$", out)
        if found is None:
            break
        column = int(found.group(1))
    assert "".join(pieces) == line  # nothing lost and nothing repeated between windows
    assert len(pieces) > 2
    assert "line 2 from column" in read_file(ws, "min.js", 2, 2, start_column=41_001)
    with pytest.raises(Exception, match="line 2 has 42,000 characters; start_column 42001"):
        read_file(ws, "min.js", 2, start_column=42_001)


def test_read_range_errors(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "1\n2\n")
    write(tmp_path, "empty.txt", "")
    ws = Workspace(tmp_path)
    with pytest.raises(Exception, match="has 2 lines; start_line 9 is past the end"):
        read_file(ws, "a.txt", 9)
    write(tmp_path, "one.txt", "only\n")
    with pytest.raises(Exception, match="has 1 line; start_line 3 is past the end"):
        read_file(ws, "one.txt", 3)
    with pytest.raises(Exception, match="end_line >= start_line"):
        read_file(ws, "a.txt", 2, 1)
    assert read_file(ws, "empty.txt") == "empty.txt: empty file"


async def test_read_file_through_toolbox_uses_output_budget(tmp_path: Path) -> None:
    write(tmp_path, "big.txt", "z" * 50 + "\n" * 1 + ("w" * 60 + "\n") * 5000)
    result = await Toolbox(Workspace(tmp_path), max_output_chars=3000).call(
        "c", "read_file", {"path": "big.txt"}
    )
    assert result.ok and len(result.output) <= 3000
    assert "output cut" not in result.output  # read_file stopped at a line, not the generic cap
    assert "Continue with start_line=" in result.output
