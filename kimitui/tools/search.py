"""search: a regex over the non-ignored, non-secret files, as ``path:line:text``.

ripgrep is used when it is on the PATH (fast on big trees); otherwise a
Python walk covers the same files. Both feed one formatter, and ripgrep's
hits pass through our own glob, ignore and secret rules, so the model sees
the same answer either way (and never a line from a withheld file).

Every search is bounded in time and can be cancelled (:class:`Stop`). The
Python engine uses the ``regex`` module rather than ``re`` because a
backtracking pattern such as ``(=|==)+\\1!`` on a line of ``=`` runs for
hours under ``re``, holding the GIL, so not even SIGINT is handled. ``regex``
takes a timeout on every call and releases the GIL while it matches
(``concurrent=True``), and its syntax is a superset of ``re``'s, which the
schema promises. RE2 (google-re2) would be linear-time, but it rejects
backreferences and lookaround outright; a killable child process would cost
a fork and a pickle of every result per search. ripgrep, a linear-time
engine, runs as a child process that is killed at the deadline or on cancel.
"""

from __future__ import annotations

import base64
import json
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import regex

from kimitui.tools.errors import ToolError
from kimitui.tools.globs import path_filter
from kimitui.tools.ignore import BUILTIN_DIRS, IgnoreRules, named_builtins
from kimitui.tools.workspace import SandboxError, Workspace

SEARCH_TIMEOUT = 20.0  # seconds for one whole search
PER_CALL_TIMEOUT = 1.0  # one regex call on one line (plus time for its length)
CHARS_PER_SECOND = 5_000_000  # a slow but honest regex speed, for long texts
LINE_CHARS = 300  # longer lines are shown as a window around the match
WINDOW_BEFORE = 100
WINDOW_CHARS = 240
MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_KEPT = 100_000  # matches held in memory; beyond this they are only counted
MAX_LINES = 1000
DEFAULT_BUDGET = 16_000
SUMMARY_ROOM = 400  # characters kept free for the summary and notes

Keep = Callable[[str], bool]


class SearchCancelled(Exception):
    """The search was cancelled from outside (the tool call was interrupted)."""


class Stop:
    """A deadline and a cancel flag, checked between files, lines and regex calls."""

    def __init__(self, timeout: float = SEARCH_TIMEOUT, cancel: threading.Event | None = None):
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.cancel = cancel or threading.Event()
        self.where = ""

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def check(self, pattern: str) -> None:
        if self.cancel.is_set():
            raise SearchCancelled
        if self.remaining() <= 0:
            raise self.timed_out(pattern)

    def call_timeout(self, chars: int) -> float:
        """Timeout for one regex call over ``chars`` characters."""
        return max(0.001, min(self.remaining(), PER_CALL_TIMEOUT + chars / CHARS_PER_SECOND))

    def timed_out(self, pattern: str) -> ToolError:
        return ToolError(
            f"search timed out (limit {self.timeout:g}s){self.where}: the pattern {pattern!r} "
            "is too slow here. Patterns with nested repetition such as (a+)+ or (a|aa)+ and "
            "backreferences can take exponential time; simplify the pattern, or narrow the "
            "search with path or glob"
        )


@dataclass
class Found:
    """Matches sorted by path and line; beyond MAX_KEPT only counted."""

    matches: list[tuple[str, int, str]] = field(default_factory=list)  # (path, line, shown)
    total: int = 0
    files: set[str] = field(default_factory=set)

    def add(self, rel: str, num: int, line: str, column: int) -> None:
        self.total += 1
        self.files.add(rel)
        if len(self.matches) < MAX_KEPT:
            self.matches.append((rel, num, shown_line(line, column)))


def compile_pattern(pattern: str, ignore_case: bool) -> regex.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise ToolError("pattern must be a non-empty regular expression (Python re syntax)")
    try:
        return regex.compile(pattern, regex.IGNORECASE if ignore_case else 0)
    except (regex.error, ValueError, OverflowError) as exc:
        raise ToolError(
            f"invalid regular expression {pattern!r}: {exc}; escape special characters "
            "such as ( [ . * + ? with a backslash to match them literally"
        ) from None


def search(
    ws: Workspace,
    pattern: str,
    path: str = ".",
    glob: str | None = None,
    *,
    ignore_case: bool = False,
    limit: int = MAX_LINES,
    budget: int = DEFAULT_BUDGET,
    use_ripgrep: bool | None = None,
    timeout: float = SEARCH_TIMEOUT,
    cancel: threading.Event | None = None,
) -> str:
    """Matching lines as ``path:N:text`` and a summary line, within ``budget`` characters.

    Raises ToolError for a bad pattern or a timeout, SandboxError for a path
    outside the project, withheld, or not a regular file, and SearchCancelled.
    """
    compiled = compile_pattern(pattern, ignore_case)
    start = ws.check_readable(path)  # a withheld or special path is said so, not "no matches"
    rel_start = ws.relpath(start)
    if not start.exists():
        raise ToolError(f"{rel_start!r} does not exist; search without a path to cover the project")
    is_file = start.is_file()
    rules = IgnoreRules(ws.root)
    keep = _file_filter(ws, path_filter(glob, rel_start))
    stop = Stop(timeout, cancel)
    rg = shutil.which("rg") if use_ripgrep is not False else None
    found: Found | None = None
    if rg:
        found = _ripgrep(ws, rg, pattern, rel_start, ignore_case, keep, rules, stop)
    if found is None:  # no ripgrep, or it cannot handle this Python regex
        found = _python(ws, compiled, rel_start, is_file, keep, rules, stop, pattern)
    notes = []
    if rel_start != "." and rules.is_ignored(rel_start, not is_file):
        notes.append(
            f"[note: {rel_start} is ignored (by .gitignore or the built-in rules for "
            "virtualenvs, node_modules, caches and build output); it was searched because "
            "you named it]"
        )
    if not found.total and glob and not _any_file(rules, rel_start, is_file, keep, stop, pattern):
        notes.append(
            f"[no file under {'the project' if rel_start == '.' else rel_start} matches glob "
            f"{glob!r}; globs are matched relative to path, e.g. *.py or pkg/**/*.py]"
        )
    return format_matches(found, pattern, limit, budget, notes)


def _file_filter(ws: Workspace, glob: Keep | None) -> Keep:
    def keep(rel: str) -> bool:
        if ws.is_secret(rel) or not _link_target_readable(ws, rel):
            return False  # withheld files never contribute a line
        return glob is None or glob(rel)

    return keep


def _link_target_readable(ws: Workspace, rel: str) -> bool:
    """A symlink is judged by its target too: inside the project and not withheld."""
    if not (ws.root / rel).is_symlink():
        return True  # the common case costs one lstat
    try:
        ws.check_readable(rel)
    except SandboxError:
        return False
    return True


def _any_file(
    rules: IgnoreRules, rel_start: str, is_file: bool, keep: Keep, stop: Stop, pattern: str
) -> bool:
    if is_file:
        return keep(rel_start)
    for rel in rules.iter_files(rel_start):
        stop.check(pattern)
        if keep(rel):
            return True
    return False


# -- output ------------------------------------------------------------------------


def shown_line(text: str, column: int) -> str:
    """The line, or for a long one a window around ``column`` (0-based) saying where it is."""
    text = text.rstrip("\r\n")
    if len(text) <= LINE_CHARS:
        return text
    begin = max(0, min(column - WINDOW_BEFORE, len(text) - WINDOW_CHARS))
    end = min(len(text), begin + WINDOW_CHARS)
    return (
        f"{text[begin:end]} [long line: {len(text):,} characters; columns {begin + 1:,}-"
        f"{end:,} shown; the match starts at column {column + 1:,}]"
    )


def format_matches(
    found: Found,
    pattern: str,
    limit: int = MAX_LINES,
    budget: int = DEFAULT_BUDGET,
    notes: list[str] | None = None,
) -> str:
    notes = notes or []
    if not found.total:
        return "\n".join([f"no matches for {pattern!r}", *notes])
    found.matches.sort(key=lambda m: (m[0], m[1]))
    room = max(500, budget - SUMMARY_ROOM - sum(len(n) + 1 for n in notes))
    lines: list[str] = []
    used = 0
    for path, num, shown in found.matches[:limit]:
        row = f"{path}:{num}:{shown}"
        if lines and used + len(row) + 1 > room:
            break
        lines.append(row)
        used += len(row) + 1
    return "\n".join([*lines, *notes, _summary(found, len(lines))])


def _summary(found: Found, shown: int) -> str:
    files = len(found.files)
    if shown == found.total:
        return f"[{_plural(found.total, 'matching line')} in {_plural(files, 'file')}]"
    shown_files = len({m[0] for m in found.matches[:shown]})
    return (
        f"[{shown:,} of {found.total:,} matching lines shown, from {shown_files:,} of "
        f"{_plural(files, 'file')}; {found.total - shown:,} more not shown; narrow with "
        "path, glob or a more specific pattern]"
    )


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


# -- Python engine -----------------------------------------------------------------


def _python(
    ws: Workspace,
    compiled: regex.Pattern[str],
    rel_start: str,
    is_file: bool,
    keep: Keep,
    rules: IgnoreRules,
    stop: Stop,
    pattern: str,
) -> Found:
    files: list[str] = []
    if is_file:
        files = [rel_start]
    else:
        for rel in rules.iter_files(rel_start):
            stop.check(pattern)
            files.append(rel)
        files.sort()
    # \A and \Z mean something else across a whole file: those patterns go line by line.
    whole = None
    if "\\A" not in compiled.pattern and "\\Z" not in compiled.pattern:
        whole = regex.compile(compiled.pattern, compiled.flags | regex.MULTILINE)
    found = Found()
    for rel in files:
        stop.check(pattern)
        if keep(rel):
            stop.where = f" in {rel}"
            try:
                _search_file(ws, rel, compiled, whole, stop, found, pattern)
            except TimeoutError:
                raise stop.timed_out(pattern) from None
    return found


def _read_text(ws: Workspace, rel: str) -> str | None:
    path = ws.root / rel
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            return None  # FIFOs and devices would block or never end
        data = path.read_bytes()
    except OSError:
        return None
    if b"\x00" in data:
        return None  # binary, as ripgrep treats it
    return data.decode("utf-8", "replace")


def _search_file(
    ws: Workspace,
    rel: str,
    compiled: regex.Pattern[str],
    whole: regex.Pattern[str] | None,
    stop: Stop,
    found: Found,
    pattern: str,
) -> None:
    text = _read_text(ws, rel)
    if text is None:
        return
    # Lines are matched without their "\r", as ripgrep's --crlf does.
    probe = text.replace("\r\n", "\n") if "\r" in text else text
    if whole is None:
        _line_by_line(rel, probe, compiled, stop, found, pattern)
        return
    # The whole text is searched from each line on, so only lines with a hit cost a
    # call (a call with a timeout costs ten times one without); each hit is then
    # confirmed on its own line, which is what a line-wise match means.
    pos, num, counted = 0, 1, 0
    while pos < len(probe):
        hit = whole.search(probe, pos, timeout=stop.call_timeout(len(probe) - pos), concurrent=True)
        if hit is None:
            return
        start = probe.rfind("\n", 0, hit.start()) + 1
        end = probe.find("\n", hit.start())
        end = len(probe) if end == -1 else end
        if start == len(probe):
            return  # after the final newline: no line there
        num += probe.count("\n", counted, start)
        counted = start
        line = probe[start:end]
        confirmed = compiled.search(line, timeout=stop.call_timeout(len(line)), concurrent=True)
        if confirmed:
            found.add(rel, num, line, confirmed.start())
        pos = end + 1
        stop.check(pattern)


def _line_by_line(
    rel: str, probe: str, compiled: regex.Pattern[str], stop: Stop, found: Found, pattern: str
) -> None:
    """For patterns with \\A or \\Z, which mean something else across a whole text."""
    lines = probe.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # after the final newline: no line there
    for num, line in enumerate(lines, 1):
        if num % 256 == 0:
            stop.check(pattern)
        hit = compiled.search(line, timeout=stop.call_timeout(len(line)), concurrent=True)
        if hit:
            found.add(rel, num, line, hit.start())


# -- ripgrep -----------------------------------------------------------------------


def _ripgrep(
    ws: Workspace,
    rg: str,
    pattern: str,
    rel_start: str,
    ignore_case: bool,
    keep: Keep,
    rules: IgnoreRules,
    stop: Stop,
) -> Found | None:
    # --crlf: "$" must match before "\r\n" as it does in our line-wise Python search
    cmd = [rg, "--no-config", "--json", "--hidden", "--no-require-git", "--no-messages", "--crlf"]
    # Only the rules our Python walk applies: no .ignore, global or parent ignore files.
    cmd += ["--no-ignore-dot", "--no-ignore-global", "--no-ignore-parent"]
    cmd += ["--ignore-case"] if ignore_case else ["--case-sensitive"]
    for name in sorted(BUILTIN_DIRS - named_builtins(rel_start)):
        cmd += ["--glob", f"!{name}/"]
    cmd += ["--regexp", pattern, "--", rel_start]
    try:
        # Our fixed ripgrep argv reading files only (the pattern is data, not a program).
        proc = subprocess.Popen(
            cmd,
            cwd=ws.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return None
    threading.Thread(target=_watch, args=(proc, stop), daemon=True).start()
    stop.where = " (ripgrep)"
    found = Found()
    verdicts: dict[str, bool] = {}
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:  # parsed as it comes: only windows of long lines are kept
            hit = _parse_rg_line(raw)
            if hit is None:
                continue
            rel, num, text, column = hit
            rel = rel.removeprefix("./")
            if rel not in verdicts:
                # Only what lies below the path the model named counts as ignored.
                ignored = rules.is_ignored(rel, False, below=rel_start)
                verdicts[rel] = keep(rel) and not ignored
            if verdicts[rel]:
                found.add(rel, num, text, column)
    finally:
        proc.stdout.close()
        proc.wait()
    stop.check(pattern)  # killed at the deadline or on cancel: say so
    if proc.returncode not in (0, 1):  # 2: e.g. a Python-only regex feature
        return None
    return found


def _watch(proc: subprocess.Popen[bytes], stop: Stop) -> None:
    """Kill ripgrep at the deadline or when the search is cancelled."""
    while proc.poll() is None:
        if stop.cancel.wait(0.05) or stop.remaining() <= 0:
            proc.kill()
            return


def _rg_bytes(obj: dict) -> bytes:
    if "text" in obj:
        return obj["text"].encode("utf-8", "surrogateescape")
    return base64.b64decode(obj.get("bytes", ""))


def _parse_rg_line(raw: bytes) -> tuple[str, int, str, int] | None:
    """(path, line number, line text, match column in characters) of a match event."""
    try:
        event = json.loads(raw)
        if event.get("type") != "match":
            return None
        data = event["data"]
        path = _rg_bytes(data["path"]).decode("utf-8", "surrogateescape")
        line = _rg_bytes(data["lines"])
        subs = data.get("submatches") or [{"start": 0}]
        start = int(subs[0]["start"])
        column = len(line[:start].decode("utf-8", "replace"))
        return path, int(data["line_number"]), line.decode("utf-8", "replace"), column
    except (ValueError, KeyError, TypeError):
        return None
