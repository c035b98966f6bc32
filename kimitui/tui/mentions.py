"""``@path`` mentions: finding them in a message, ranking project files for the
completion list, and attaching the mentioned files to the message sent.

No Textual here: the composer asks for candidates, the App attaches on send.
The rules are the model's own (``read_file``'s): ignored files are not offered,
withheld files (secrets) are never offered nor attached, binary files are refused
with a note, and a large file is attached as its first lines with a note saying so.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kimitui.core.safetext import safe_line
from kimitui.tools.files import SNIFF_BYTES, binary_kind, decode
from kimitui.tools.ignore import IgnoreRules
from kimitui.tools.workspace import SandboxError, Workspace, special_file

ATTACH_CHARS = 24_000  # per file: beyond this, the first lines only (about 6,000 tokens)
ATTACH_TOTAL = 96_000  # per message: the files after this are named, not attached
MAX_FILES = 20_000  # paths kept for completion (a huge tree still completes its first ones)
SHOWN = 8  # rows in the completion list
COUNT_UP_TO = 64 * 1024 * 1024  # counting the lines of a larger file costs too much

# "@path" after the start or a space ("a@b.c" is an address, not a mention);
# "@\"a b.txt\"" for a path with spaces.
MENTION = re.compile(r'(?<!\S)@(?:"([^"\n]+)"|([^\s"]+))')
TRAILING = ".,;:!?)]}'"  # punctuation after a mention ends the sentence, not the path
BEGIN = "[attached file: {rel} ({what})]"
END = "[end of attached file: {rel}]"
ATTACHED = re.compile(
    r"^\[attached file: (?P<rel>.+?) \((?P<what>[^\n]*)\)\]\n"
    r".*?^\[end of attached file: (?P=rel)\]$",
    re.S | re.M,
)


def project_files(ws: Workspace) -> list[str]:
    """The files a mention may name: not ignored, not withheld, sorted (may be slow: a thread)."""
    files: list[str] = []
    for rel in IgnoreRules(ws.root).iter_files():
        # A name with control characters is never put in the box (it could move the cursor).
        if rel.isprintable() and not ws.is_secret(rel):
            files.append(rel)
            if len(files) >= MAX_FILES:
                break
    files.sort()
    return files


def mention_text(rel: str) -> str:
    """How a path is written as a mention (quoted when it holds a space)."""
    return f'@"{rel}"' if any(ch.isspace() for ch in rel) else f"@{rel}"


# -- ranking ------------------------------------------------------------------


def score(query: str, path: str) -> float | None:
    """How well ``query`` names ``path`` (higher is better); None when it does not.

    The query's characters must appear in order (case-insensitive). Matches in
    the file name, at word starts and in runs score more; shorter paths win ties.
    """
    q, p = query.casefold(), path.casefold()
    if not q:
        return 1.0 / (1 + len(p))
    base = p.rfind("/") + 1
    if q in p[base:]:  # a substring of the file name: the best kind of match
        at = p.index(q, base)
        return 1000.0 + (100.0 if at == base else 0.0) - len(p) * 0.1
    if q in p:
        return 500.0 + (50.0 if p.startswith(q) else 0.0) - len(p) * 0.1
    total, at, run = 0.0, 0, 0
    for ch in q:
        found = p.find(ch, at)
        if found < 0:
            return None
        run = run + 1 if found == at else 1
        starts_word = found == 0 or p[found - 1] in "/_-. "
        total += run * 2 + (3 if starts_word else 0) + (2 if found >= base else 0)
        at = found + 1
    return total - len(p) * 0.1


def rank(query: str, paths: Iterable[str], limit: int = SHOWN) -> list[str]:
    """The ``limit`` paths that ``query`` names best."""
    return PathIndex(list(paths)).rank(query, limit)


def subsequence(query: str) -> re.Pattern[str]:
    """A regex for ``query``'s characters in order ("c[^a]*a[^r]*r"): no backtracking."""
    chars = [re.escape(ch) for ch in query]
    return re.compile(chars[0] + "".join(f"[^{c}]*{c}" for c in chars[1:]))


class PathIndex:
    """The project's files, folded once, ranked fast enough for every key typed.

    Cheap string tests in C go first (the query in a file name, then anywhere,
    then as a subsequence by regex); only the paths they let through are scored,
    and the later tiers are only looked at when the earlier ones are short.
    """

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.folded = [p.casefold() for p in paths]
        self.names = [f[f.rfind("/") + 1 :] for f in self.folded]

    def __len__(self) -> int:
        return len(self.paths)

    def rank(self, query: str, limit: int = SHOWN) -> list[str]:
        q = query.casefold()
        if not q:
            return heapq.nsmallest(limit, self.paths, key=lambda p: (len(p), p))
        names, folded = self.names, self.folded
        picked = [i for i, name in enumerate(names) if q in name]
        if len(picked) < limit * 4:  # else the weaker tiers cannot win
            picked += [i for i, f in enumerate(folded) if q in f and q not in names[i]]
        if len(picked) < limit * 4:
            search = subsequence(q).search
            picked += [i for i, f in enumerate(folded) if q not in f and search(f)]
        best = heapq.nlargest(limit, picked, key=lambda i: (score(q, self.paths[i]) or 0.0, -i))
        return [self.paths[i] for i in best]


# -- attaching ----------------------------------------------------------------


@dataclass
class Attached:
    """The message as sent (text, then the attached files) and notes for the user."""

    text: str
    files: list[str] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (level, text)


def mentions(text: str) -> list[str]:
    """The paths mentioned in ``text``, in order, each once."""
    found: list[str] = []
    for match in MENTION.finditer(text):
        rel = match.group(1) or match.group(2)
        if rel and rel not in found:
            found.append(rel)
    return found


def attach_mentions(ws: Workspace, text: str) -> Attached:
    """``text`` with each mentioned file attached after it, in a delimited block."""
    result = Attached(text)
    blocks: list[str] = []
    room = ATTACH_TOTAL
    for written in mentions(text):
        rel = _existing(ws, written)
        if rel is None:
            result.notes.append(("warning", _missing(written)))
            continue
        try:
            block, note = _block(ws, rel, min(ATTACH_CHARS, room))
        except (SandboxError, OSError) as err:
            result.notes.append(("warning", f"@{safe_line(written)} not attached: {err}"))
            continue
        if note:
            result.notes.append(("info" if block else "warning", note))
        if block:
            blocks.append(block)
            result.files.append(rel)
            room -= len(block)
    if blocks:
        result.text = text.rstrip() + "\n\n" + "\n\n".join(blocks)
    return result


def _existing(ws: Workspace, written: str) -> str | None:
    """The project-relative path a mention names, trailing punctuation forgiven."""
    for candidate in (written, written.rstrip(TRAILING)):
        try:
            if candidate and ws.resolve(candidate).exists():
                return candidate
        except SandboxError:
            return candidate  # outside the project: _block says so
    return None


def _missing(written: str) -> str:
    return (
        f"@{safe_line(written)}: no such file in the project, so nothing was attached "
        "(the text was sent as typed)"
    )


def _block(ws: Workspace, written: str, budget: int) -> tuple[str, str]:
    """The attached block for one file ("" when refused) and a note for the user."""
    target = ws.check_readable(written)  # raises for withheld files and paths outside
    rel = ws.relpath(target)
    if target.is_dir():
        return "", f"@{safe_line(rel)} is a folder: mention its files instead; nothing attached"
    if kind := special_file(target):
        return "", f"@{safe_line(rel)} is a {kind}, not a regular file; nothing attached"
    size = target.stat().st_size
    with open(target, "rb") as fh:
        data = fh.read(budget * 4 + 4)  # enough for `budget` characters of any UTF-8
    if kind := binary_kind(data[:SNIFF_BYTES]):
        return "", f"@{safe_line(rel)} is a binary file ({kind}); it was not attached"
    text, encoding_note = decode(data)
    lines = text.splitlines()
    if len(data) < size:
        lines.pop()  # the last line read may be cut in the middle
    shown, used = [], 0
    for line in lines:
        if used + len(line) + 1 > budget and shown:
            break
        shown.append(line[:budget])
        used += len(line) + 1
    whole = len(data) == size and len(shown) == len(lines) and used <= budget
    total = f"{len(lines):,}" if len(data) == size else count_lines(target)
    what = f"{total} lines, {size:,} bytes"
    if not whole:
        what = f"lines 1-{len(shown):,} of {total}, {size:,} bytes"
    body = [BEGIN.format(rel=rel, what=what)]
    if encoding_note:
        body.append(f"[{encoding_note}]")
    if not whole:
        body.append(
            f"[note: a large file; only lines 1-{len(shown):,} are attached. "
            f"read_file with start_line={len(shown) + 1} shows the rest]"
        )
    body += [*shown, END.format(rel=rel)]
    if whole:
        ws.read_paths.add(rel)  # the model has seen all of it, as if it had read it
        return "\n".join(body), ""
    note = f"{rel} is large: attached lines 1-{len(shown):,} of {total}, with a note"
    return "\n".join(body), note


def count_lines(target: Path) -> str:
    """How many lines a large file has, read in chunks ("many" past COUNT_UP_TO bytes)."""
    count, read, last = 0, 0, b"\n"
    with open(target, "rb") as fh:
        while chunk := fh.read(1 << 20):
            count += chunk.count(b"\n")
            read, last = read + len(chunk), chunk[-1:]
            if read > COUNT_UP_TO:
                return "many"
    unended = last != b"\n"  # a last line without a newline is a line too
    return f"{count + unended:,}"


def shorten_attachments(text: str) -> str:
    """A message as the transcript shows it: each attached file as one line."""
    return ATTACHED.sub(lambda m: f"[attached: {m['rel']} ({m['what']})]", text)
