"""list_files and read_file: what is in the project, and bounded views of one file."""

from __future__ import annotations

import codecs
from pathlib import Path

import pathspec

from kimitui.tools.errors import ToolError
from kimitui.tools.ignore import IgnoreRules
from kimitui.tools.workspace import Workspace

LIST_LIMIT = 1000
READ_CAP_BYTES = 256 * 1024
SNIFF_BYTES = 8192
COUNT_LINES_UP_TO = 64 * 1024 * 1024  # beyond this, counting every line costs too much

MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF8", "GIF image"),
    (b"%PDF", "PDF document"),
    (b"PK\x03\x04", "zip archive"),
    (b"\x1f\x8b", "gzip archive"),
    (b"\x7fELF", "ELF executable"),
    (b"SQLite format 3\x00", "SQLite database"),
    (b"\x00asm", "WebAssembly module"),
    (b"RIFF", "RIFF media file"),
)


# -- list_files ---------------------------------------------------------------


def list_files(
    ws: Workspace, path: str = ".", pattern: str | None = None, *, limit: int = LIST_LIMIT
) -> str:
    start = ws.resolve(path)
    rel_start = ws.relpath(start)
    if not start.exists():
        raise ToolError(
            f"{rel_start!r} does not exist; call list_files without a path to see the tree"
        )
    if start.is_file():
        return rel_start + ("  [withheld: secret]" if ws.is_secret(rel_start) else "")
    files = list(IgnoreRules(ws.root).iter_files(rel_start))
    if pattern:
        spec = pathspec.GitIgnoreSpec.from_lines([pattern])
        files = [f for f in files if spec.match_file(f)]
    files.sort()
    return _format_listing(ws, files, rel_start, pattern, limit)


def _format_listing(
    ws: Workspace, files: list[str], rel_start: str, pattern: str | None, limit: int
) -> str:
    where = "the project" if rel_start == "." else rel_start
    if not files:
        what = f" matching {pattern!r}" if pattern else ""
        return f"no files{what} in {where} (ignored files such as .gitignore'd ones are not listed)"
    shown = [f + ("  [withheld: secret]" if ws.is_secret(f) else "") for f in files[:limit]]
    if len(files) > limit:
        shown.append(
            f"[{limit} of {len(files)} files shown; {len(files) - limit} more not shown; "
            "narrow with path or pattern]"
        )
    else:
        shown.append(f"[{len(files)} file{'s' if len(files) != 1 else ''} in {where}]")
    return "\n".join(shown)


# -- read_file ----------------------------------------------------------------


def binary_kind(head: bytes) -> str | None:
    """A short description if ``head`` (the file's first bytes) is not text."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None  # UTF-16 text has NUL bytes but is text
    for magic, kind in MAGIC:
        if head.startswith(magic):
            return kind
    if b"\x00" in head:
        return "binary data: contains NUL bytes"
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    if head and controls / len(head) > 0.1:
        return "binary data: mostly control bytes"
    return None


def decode(data: bytes) -> tuple[str, str]:
    """Decode file bytes; the second value is a note on any encoding problem ("" if none)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", "replace"), "note: file starts with a UTF-8 BOM"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", "replace"), "note: file is UTF-16; edit_file cannot edit it"
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError as exc:
        bad_line = data.count(b"\n", 0, exc.start) + 1
        lossy = data.decode("utf-8", "replace")
        non_ascii = sum(1 for ch in lossy if ord(ch) > 127)
        if lossy.count("\ufffd") * 2 >= non_ascii:
            # Mostly invalid sequences: a legacy 8-bit encoding, most likely Latin-1.
            return data.decode("latin-1"), (
                f"note: not valid UTF-8 (first bad byte on line {bad_line}); shown decoded as "
                "Latin-1. edit_file cannot match its non-ASCII text; write_file would save "
                "it as UTF-8"
            )
        return lossy, (
            f"note: not valid UTF-8 (first bad byte on line {bad_line}); undecodable bytes "
            "are shown as \ufffd"
        )


def read_file(
    ws: Workspace,
    path: str,
    start_line: int | None = None,
    end_line: int | None = None,
    *,
    budget: int = READ_CAP_BYTES,
) -> str:
    """Numbered lines of a text file, bounded by ``budget`` chars and READ_CAP_BYTES."""
    target = ws.check_readable(path)
    rel = ws.relpath(target)
    if target.is_dir():
        raise ToolError(f"{rel!r} is a folder; use list_files with path={rel!r}")
    if not target.exists():
        raise ToolError(f"{rel!r} does not exist; use list_files or search to find the right path")
    start = start_line or 1
    if start < 1 or (end_line is not None and end_line < start):
        raise ToolError("start_line must be >= 1 and end_line >= start_line")
    size = target.stat().st_size
    with open(target, "rb") as fh:
        kind = binary_kind(fh.read(SNIFF_BYTES))
    if kind:
        return f"{rel}: binary file ({kind}, {size:,} bytes); its contents are not shown"
    if size == 0:
        ws.read_paths.add(rel)
        return f"{rel}: empty file"
    budget = max(200, min(budget, READ_CAP_BYTES) - 600)  # room for header and notes
    text = _read_lines(target, rel, size, start, end_line, budget)
    ws.read_paths.add(rel)
    return text


def _read_lines(target: Path, rel: str, size: int, start: int, end: int | None, budget: int) -> str:
    raw, total, last = _collect(target, size, start, end, budget)
    if not raw:
        shown_total = f"{total:,}" if total is not None else "fewer"
        raise ToolError(f"{rel} has {shown_total} lines; start_line {start} is past the end")
    text, note = decode(b"".join(raw))
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    body = [_numbered(start + i, line, budget) for i, line in enumerate(lines)]
    out_of = f" of {total:,}" if total is not None else ""
    header = f"{rel} (lines {start}-{last}{out_of}, {size:,} bytes)"
    parts = [header, *([note] if note else []), *body]
    if (end is None or last < end) and (total is None or last < total):
        parts.append(
            f"[more lines follow: showing lines {start}-{last}; output is capped at about "
            f"{budget:,} characters. Continue with start_line={last + 1}]"
        )
    return "\n".join(parts)


def _numbered(n: int, line: str, budget: int) -> str:
    line = line.removesuffix("\r")
    if len(line) > budget:
        line = line[:budget] + f"[line cut: {len(line) - budget:,} more characters]"
    return f"{n}\t{line}"


def _collect(
    target: Path, size: int, start: int, end: int | None, budget: int
) -> tuple[list[bytes], int | None, int]:
    """Raw lines start..end within ``budget`` bytes, total line count (None if unknown), last."""
    raw: list[bytes] = []
    used = 0
    last = start - 1
    count = 0
    full = False
    with open(target, "rb") as fh:
        for count, line in enumerate(fh, 1):  # count: the total afterwards
            if count < start or full:
                if full and size > COUNT_LINES_UP_TO:
                    return raw, None, last
                continue
            cost = len(line) + len(str(count)) + 1  # the "N\t" prefix counts too
            if (end is not None and count > end) or (raw and used + cost > budget):
                full = True
                continue
            raw.append(line)
            used += cost
            last = count
    return raw, count, last
