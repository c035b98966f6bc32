"""search: a regex over the non-ignored, non-secret files, as ``path:line: text``.

ripgrep is used when it is on the PATH (fast on big trees); otherwise Python's
``re`` walks the same files. Both feed one formatter, and ripgrep's hits pass
through our own ignore and secret rules, so the model sees the same answer
either way (and never a line from a withheld file).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator

import pathspec

from kimitui.tools.errors import ToolError
from kimitui.tools.ignore import BUILTIN_DIRS, IgnoreRules
from kimitui.tools.workspace import SandboxError, Workspace

SEARCH_LIMIT = 200
LINE_CHARS = 300
MAX_FILE_BYTES = 32 * 1024 * 1024
RG_TIMEOUT = 60.0

Match = tuple[str, int, str]  # (relative path, line number, line text)
Keep = Callable[[str], bool]


def compile_pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise ToolError("pattern must be a non-empty regular expression (Python re syntax)")
    try:
        return re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
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
    limit: int = SEARCH_LIMIT,
    use_ripgrep: bool | None = None,
) -> str:
    regex = compile_pattern(pattern, ignore_case)
    start = ws.resolve(path)
    rel_start = ws.relpath(start)
    if not start.exists():
        raise ToolError(f"{rel_start!r} does not exist; search without a path to cover the project")
    keep = _file_filter(ws, glob)
    rg = shutil.which("rg") if use_ripgrep is not False else None
    matches: list[Match] | None = None
    if rg:
        matches = _ripgrep(ws, rg, pattern, rel_start, ignore_case, keep)
    if matches is None:  # no ripgrep, or it cannot handle this Python regex
        matches = list(_python(ws, regex, rel_start, start.is_file(), keep))
    matches.sort(key=lambda m: (m[0], m[1]))
    return format_matches(matches, pattern, limit)


def _file_filter(ws: Workspace, glob: str | None) -> Keep:
    spec = pathspec.GitIgnoreSpec.from_lines([glob]) if glob else None

    def keep(rel: str) -> bool:
        if ws.is_secret(rel) or not _link_target_readable(ws, rel):
            return False  # withheld files never contribute a line
        return spec is None or spec.match_file(rel)

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


def format_matches(matches: list[Match], pattern: str, limit: int) -> str:
    if not matches:
        return f"no matches for {pattern!r}"
    lines = [f"{path}:{num}: {_clip(text)}" for path, num, text in matches[:limit]]
    files = len({m[0] for m in matches})
    if len(matches) > limit:
        lines.append(
            f"[{limit} of {len(matches)} matching lines shown ({files} files); "
            f"{len(matches) - limit} more not shown; narrow with path, glob or a more "
            "specific pattern]"
        )
    else:
        lines.append(
            f"[{len(matches)} matching line{'s' if len(matches) != 1 else ''} "
            f"in {files} file{'s' if files != 1 else ''}]"
        )
    return "\n".join(lines)


def _clip(text: str) -> str:
    text = text.rstrip("\r\n")
    if len(text) > LINE_CHARS:
        return text[:LINE_CHARS] + f"... [{len(text) - LINE_CHARS} more characters]"
    return text


# -- Python fallback ---------------------------------------------------------------


def _python(
    ws: Workspace, regex: re.Pattern[str], rel_start: str, is_file: bool, keep: Keep
) -> Iterator[Match]:
    rules = IgnoreRules(ws.root)
    files: Iterable[str] = [rel_start] if is_file else rules.iter_files(rel_start)
    # One search over the whole text skips files without a hit cheaply; \A and \Z
    # mean something else across a whole file, so those patterns go line by line.
    whole = None
    if "\\A" not in regex.pattern and "\\Z" not in regex.pattern:
        whole = re.compile(regex.pattern, regex.flags | re.MULTILINE)
    for rel in files:
        if keep(rel):
            yield from _search_file(ws, rel, regex, whole)


def _search_file(
    ws: Workspace, rel: str, regex: re.Pattern[str], whole: re.Pattern[str] | None
) -> Iterator[Match]:
    path = ws.root / rel
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return
        data = path.read_bytes()
    except OSError:
        return
    if b"\x00" in data:
        return  # binary, as ripgrep treats it
    text = data.decode("utf-8", "replace")
    # Lines are matched without their "\r", so the prefilter must see LF endings too.
    probe = text.replace("\r\n", "\n") if "\r" in text else text
    if whole is not None and not whole.search(probe):
        return
    for num, line in enumerate(text.split("\n"), 1):
        line = line.removesuffix("\r")
        if regex.search(line):
            yield rel, num, line


# -- ripgrep -----------------------------------------------------------------------


def _ripgrep(
    ws: Workspace, rg: str, pattern: str, rel_start: str, ignore_case: bool, keep: Keep
) -> list[Match] | None:
    # --crlf: "$" must match before "\r\n" as it does in our line-wise Python search
    cmd = [rg, "--no-config", "--json", "--hidden", "--no-require-git", "--no-messages", "--crlf"]
    # Only the rules our Python walk applies: no .ignore, global or parent ignore files.
    cmd += ["--no-ignore-dot", "--no-ignore-global", "--no-ignore-parent"]
    cmd += ["--ignore-case"] if ignore_case else ["--case-sensitive"]
    for name in sorted(BUILTIN_DIRS):
        cmd += ["--glob", f"!{name}/"]
    cmd += ["--regexp", pattern, "--", rel_start]
    try:
        proc = subprocess.run(
            cmd, cwd=ws.root, capture_output=True, timeout=RG_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode not in (0, 1):  # 2: e.g. a Python-only regex feature
        return None
    rules = IgnoreRules(ws.root)
    verdicts: dict[str, bool] = {}
    matches: list[Match] = []
    for path, num, text in _parse_rg_json(proc.stdout):
        rel = path.removeprefix("./")
        if rel not in verdicts:
            verdicts[rel] = keep(rel) and not rules.is_ignored(rel, False)
        if verdicts[rel]:
            matches.append((rel, num, text))
    return matches


def _rg_text(obj: dict) -> str:
    if "text" in obj:
        return obj["text"]
    return base64.b64decode(obj.get("bytes", "")).decode("utf-8", "replace")


def _parse_rg_json(stdout: bytes) -> Iterator[Match]:
    for raw in stdout.splitlines():
        try:
            event = json.loads(raw)
        except ValueError:
            continue
        if event.get("type") != "match":
            continue
        data = event["data"]
        yield _rg_text(data["path"]), int(data["line_number"]), _rg_text(data["lines"])
