"""list_files and read_file: what is in the project, and bounded views of one file."""

from __future__ import annotations

import codecs
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from kimitui.tools.eol import Style
from kimitui.tools.errors import ToolError
from kimitui.tools.globs import path_filter
from kimitui.tools.ignore import IgnoreRules
from kimitui.tools.limits import DEFAULT_MAX_OUTPUT_CHARS
from kimitui.tools.workspace import Workspace, special_file

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

SECRET_MARK = "  [withheld: secret]"
SUMMARY_ROOM = 400  # characters kept free for the summary and notes


def list_files(
    ws: Workspace,
    path: str = ".",
    pattern: str | None = None,
    *,
    limit: int = LIST_LIMIT,
    budget: int = DEFAULT_MAX_OUTPUT_CHARS,
) -> str:
    """The files under ``path``, within ``budget`` characters; the last line gives the total.

    When every path does not fit, the tree's shape comes first (its folders
    with how many files each holds), then the files nearest the top.
    """
    start = ws.resolve(path)
    rel_start = ws.relpath(start)
    if not start.exists():
        raise ToolError(
            f"{rel_start!r} does not exist; call list_files without a path to see the tree"
        )
    if kind := special_file(start):
        raise ToolError(f"{rel_start!r} is a {kind}, not a regular file; it is skipped")
    if start.is_file():
        return rel_start + (SECRET_MARK if ws.is_secret(rel_start) else "")
    if ws.is_secret(rel_start):
        ws.check_readable(rel_start)  # raises the withheld message
    rules = IgnoreRules(ws.root)
    files = list(rules.iter_files(rel_start))
    keep = path_filter(pattern, rel_start)
    if keep is not None:
        files = [f for f in files if keep(f)]
    files.sort()
    notes = []
    if rel_start != "." and rules.is_ignored(rel_start, True):
        notes.append(
            f"[note: {rel_start} is ignored (by .gitignore or the built-in rules for "
            "virtualenvs, node_modules, caches and build output); it was listed because you "
            "named it]"
        )
    return _format_listing(ws, files, rel_start, pattern, limit, budget, notes)


def _format_listing(
    ws: Workspace,
    files: list[str],
    rel_start: str,
    pattern: str | None,
    limit: int,
    budget: int,
    notes: list[str],
) -> str:
    where = "the project" if rel_start == "." else rel_start
    if not files:
        what = f" matching {pattern!r}" if pattern else ""
        hint = " (globs are matched relative to path)" if pattern else ""
        return "\n".join(
            [
                f"no files{what} in {where}{hint} (ignored files such as .gitignore'd ones "
                "are not listed)",
                *notes,
            ]
        )
    room = max(500, budget - SUMMARY_ROOM - sum(len(n) + 1 for n in notes))
    if len(files) <= limit and sum(len(f) + 1 for f in files) <= room:
        rows = [_row(ws, f) for f in files]
        if sum(len(r) + 1 for r in rows) <= room:
            total = f"[{_plural(len(files), 'file')} in {where}]"
            return "\n".join([*rows, *notes, total])
    return _shape_listing(ws, files, rel_start, where, min(limit, len(files)), room, notes)


def _row(ws: Workspace, rel: str) -> str:
    return rel + (SECRET_MARK if ws.is_secret(rel) else "")


def _shape_listing(
    ws: Workspace,
    files: list[str],
    rel_start: str,
    where: str,
    limit: int,
    room: int,
    notes: list[str],
) -> str:
    """Folders with their file counts, then the shallowest files, within ``room``."""
    base = 0 if rel_start == "." else rel_start.count("/") + 1
    counts: Counter[str] = Counter()
    for rel in files:
        parts = rel.split("/")
        for depth in range(base + 1, len(parts)):
            counts["/".join(parts[:depth])] += 1
    folders = _folders_that_fit(counts, base, room // 2)
    folder_rows = [f"{d}/  ({_plural(counts[d], 'file')})" for d in folders]
    used = sum(len(r) + 1 for r in folder_rows) + 60
    by_depth = sorted(range(len(files)), key=lambda i: (files[i].count("/"), files[i]))
    chosen: dict[int, str] = {}
    for i in by_depth:
        row = _row(ws, files[i])  # only rows that may be shown pay for the secret check
        if len(chosen) >= limit or used + len(row) + 1 > room:
            break
        chosen[i] = row
        used += len(row) + 1
    file_rows = [chosen[i] for i in sorted(chosen)]
    more_folders = len(counts) - len(folders)
    folder_note = f" ({more_folders:,} deeper folders not shown)" if more_folders else ""
    summary = (
        f"[{_plural(len(files), 'file')} in {where}: {len(folder_rows):,} folders shown "
        f"with their file counts{folder_note}, and {len(file_rows):,} of the files, the "
        "nearest to the top first; list a folder with path, or filter with pattern]"
    )
    head = [f"folders ({_plural(len(counts), 'folder')} in {where}):"] if folder_rows else []
    files_head = [f"files ({len(file_rows):,} of {len(files):,}):"]
    return "\n".join([*head, *folder_rows, *files_head, *file_rows, *notes, summary])


def _folders_that_fit(counts: Counter[str], base: int, room: int) -> list[str]:
    """The folders down to the deepest level whose rows all fit in ``room``.

    When not even the top level fits, the top-level folders holding the most files.
    """
    by_depth: dict[int, list[str]] = {}
    for folder in counts:
        by_depth.setdefault(folder.count("/") + 1 - base, []).append(folder)
    chosen: list[str] = []
    used = 0
    for depth in sorted(by_depth):
        level = by_depth[depth]
        cost = sum(len(f) + 16 for f in level)
        if used + cost > room:
            if not chosen:
                level.sort(key=lambda f: (-counts[f], f))
                for folder in level:
                    if used + len(folder) + 16 > room:
                        break
                    chosen.append(folder)
                    used += len(folder) + 16
            break
        chosen += level
        used += cost
    return sorted(chosen)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


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
        data = data[3:]  # the header says "UTF-8 BOM"; edits keep it
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
    start_column: int | None = None,
    budget: int = READ_CAP_BYTES,
) -> str:
    """Numbered lines of a text file, bounded by ``budget`` chars and READ_CAP_BYTES.

    ``start_column`` (1-based, in characters) starts the first line further
    in, so a line longer than the budget can be read to its end in windows.
    """
    target = ws.check_readable(path)
    rel = ws.relpath(target)
    if target.is_dir():
        raise ToolError(f"{rel!r} is a folder; use list_files with path={rel!r}")
    if not target.exists():
        raise ToolError(f"{rel!r} does not exist; use list_files or search to find the right path")
    start = start_line or 1
    if start < 1 or (end_line is not None and end_line < start):
        raise ToolError("start_line must be >= 1 and end_line >= start_line")
    if start_column is not None and start_column < 1:
        raise ToolError("start_column must be >= 1 (the first character of a line is column 1)")
    size = target.stat().st_size
    with open(target, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    kind = binary_kind(head)
    if kind:
        return f"{rel}: binary file ({kind}, {size:,} bytes); its contents are not shown"
    if size == 0:
        ws.read_paths.add(rel)
        return f"{rel}: empty file"
    budget = max(200, min(budget, READ_CAP_BYTES) - 600)  # room for header and notes
    view = _View(rel, size, start, end_line, (start_column or 1) - 1, budget)
    text = _read_lines(target, view, head.startswith(codecs.BOM_UTF8))
    ws.read_paths.add(rel)
    return text


@dataclass(frozen=True)
class _View:
    rel: str
    size: int
    start: int
    end: int | None
    column: int  # 0-based character offset into the first line
    budget: int


@dataclass
class _Collected:
    raw: list[bytes] = field(default_factory=list)
    total: int | None = 0  # lines in the file; None when not counted to the end
    last: int = 0
    crlf: int = 0
    lf: int = 0
    final_newline: bool | None = None


def _read_lines(target: Path, view: _View, bom: bool) -> str:
    got = _collect(target, view)
    if not got.raw:
        shown_total = _plural(got.total, "line") if got.total is not None else "fewer lines"
        raise ToolError(f"{view.rel} has {shown_total}; start_line {view.start} is past the end")
    text, note = decode(b"".join(got.raw))
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    if view.column:
        if view.column >= len(lines[0]):
            raise ToolError(
                f"line {view.start} has {_plural(len(lines[0]), 'character')}; "
                f"start_column {view.column + 1} is past its end"
            )
        lines[0] = lines[0][view.column :]
    body, cut = _numbered(lines, view)
    style = Style(got.crlf, got.lf, bom, got.final_newline)
    header = _header(view, got, style)
    parts = [header, *([note] if note else []), *body]
    if cut:
        parts.append(cut)
    elif (view.end is None or got.last < view.end) and (got.total is None or got.last < got.total):
        parts.append(
            f"[more lines follow: showing lines {view.start}-{got.last}; output is capped at "
            f"about {view.budget:,} characters. Continue with start_line={got.last + 1}]"
        )
    return "\n".join(parts)


def _header(view: _View, got: _Collected, style: Style) -> str:
    out_of = f" of {got.total:,}" if got.total is not None else ""
    column = f", line {view.start} from column {view.column + 1:,}" if view.column else ""
    described = style.describe()
    conventions = f"; {described}" if described else ""
    return (
        f"{view.rel} (lines {view.start}-{got.last}{out_of}{column}, "
        f"{view.size:,} bytes{conventions})"
    )


def _numbered(lines: list[str], view: _View) -> tuple[list[str], str]:
    """ "N<tab>text" lines, and a note when a line was longer than the budget."""
    body: list[str] = []
    for i, line in enumerate(lines):
        n = view.start + i
        if len(line) <= view.budget:
            body.append(f"{n}\t{line}")
            continue
        # Only the first line shown can be this long (_collect stops before others).
        offset = view.column if i == 0 else 0
        body.append(f"{n}\t{line[: view.budget]}")
        end = offset + view.budget
        return body, (
            f"[line {n} is cut: it has {offset + len(line):,} characters and columns "
            f"{offset + 1:,}-{end:,} are shown. Read on with start_line={n} and "
            f"start_column={end + 1}]"
        )
    return body, ""


def _collect(target: Path, view: _View) -> _Collected:
    """Raw lines start..end within the budget, the line count and the line endings seen."""
    got = _Collected(last=view.start - 1)
    used = 0
    count = 0
    full = False
    line = b""
    with open(target, "rb") as fh:
        for count, line in enumerate(fh, 1):  # count: the total afterwards
            if line.endswith(b"\r\n"):
                got.crlf += 1
            elif line.endswith(b"\n"):
                got.lf += 1
            if count < view.start or full:
                if full and view.size > COUNT_LINES_UP_TO:
                    got.total = None
                    return got
                continue
            cost = len(line) + len(str(count)) + 1  # the "N\t" prefix counts too
            if (view.end is not None and count > view.end) or (
                got.raw and used + cost > view.budget
            ):
                full = True
                continue
            got.raw.append(line)
            used += cost
            got.last = count
    got.total = count
    got.final_newline = line.endswith(b"\n") if count else None
    return got
