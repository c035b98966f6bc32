"""Globs as a model writes them, matched relative to the folder it named.

One matcher serves list_files' ``pattern`` and search's ``glob`` (both
search engines filter through it), so a glob means the same everywhere:

- ``*`` stays inside one path part, ``?`` is one character, ``[abc]`` and
  ``[!abc]`` are classes, ``**`` spans any number of folders (none included);
- ``{py,md}`` lists alternatives, and may nest;
- a glob without ``/`` (``*.py``, ``tests``) matches a file or folder name at
  any depth, as in .gitignore and ripgrep; one with ``/`` matches the whole
  path below ``path`` (``click/*.py``); a trailing ``/`` means "inside";
- a leading ``./`` or ``/`` anchors the glob at ``path``: ``./*.md`` is the
  Markdown files directly in it, not in its subfolders;
- a glob written from the project root (``src/click/*.py`` while ``path`` is
  ``src``) is accepted too: models mix the two, and both mean one thing.
"""

from __future__ import annotations

from collections.abc import Callable

import regex

from kimitui.tools.errors import ToolError

MAX_ALTERNATIVES = 256  # {a,b}{c,d}... multiplies; a glob is not a program


def expand_braces(glob: str) -> list[str]:
    """``a{b,c{d,e}}`` -> ``["ab", "acd", "ace"]``; unbalanced braces stay literal."""
    open_at = _first_group(glob)
    if open_at is None:
        return [glob]
    start, end, options = open_at
    head, tail = glob[:start], glob[end + 1 :]
    out: list[str] = []
    for option in options:
        out += expand_braces(head + option + tail)
        if len(out) > MAX_ALTERNATIVES:
            raise ToolError(f"glob {glob!r} expands to more than {MAX_ALTERNATIVES} alternatives")
    return out


def _first_group(glob: str) -> tuple[int, int, list[str]] | None:
    """Where the first balanced ``{...,...}`` group is, and its top-level options."""
    for start, char in enumerate(glob):
        if char != "{":
            continue
        depth, options, begin = 0, [], start + 1
        for i in range(start, len(glob)):
            if glob[i] == "{":
                depth += 1
            elif glob[i] == "}":
                depth -= 1
                if depth == 0:
                    options.append(glob[begin:i])
                    if len(options) > 1:
                        return start, i, options
                    break  # "{x}" with no comma is literal
            elif glob[i] == "," and depth == 1:
                options.append(glob[begin:i])
                begin = i + 1
    return None


def translate(glob: str) -> str:
    """A regular expression for one brace-free glob (anchoring is the caller's)."""
    out: list[str] = []
    i = 0
    while i < len(glob):
        at_part_start = i == 0 or glob[i - 1] == "/"
        if glob.startswith("**/", i) and at_part_start:
            out.append("(?:[^/]*/)*")
            i += 3
        elif glob.startswith("**", i) and at_part_start and i + 2 == len(glob):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            while i < len(glob) and glob[i] == "*":
                i += 1  # "a**b" inside one part is just "*"
            out.append("[^/]*")
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and (close := _class_end(glob, i)) is not None:
            body = glob[i + 1 : close]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            escaped = body.replace("\\", "\\\\").replace("[", "\\[")
            out.append(f"[{'^/' if negate else ''}{escaped}]")
            i = close + 1
        elif glob[i] == "\\" and i + 1 < len(glob):
            out.append(regex.escape(glob[i + 1]))
            i += 2
        else:
            out.append(regex.escape(glob[i]))
            i += 1
    return "".join(out)


def _class_end(glob: str, start: int) -> int | None:
    i = start + 1
    if i < len(glob) and glob[i] in "!^":
        i += 1
    if i < len(glob) and glob[i] == "]":
        i += 1  # "[]]" holds a literal "]"
    close = glob.find("]", i)
    return None if close == -1 or "/" in glob[start:close] else close


def _clean(glob: str) -> tuple[str, bool]:
    """The glob without a leading "./" or "/", and whether it had one (anchored)."""
    glob = glob.strip()
    anchored = glob.startswith(("./", "/"))
    while glob.startswith("./"):
        glob = glob[2:]
    glob = glob.lstrip("/")
    if glob.endswith("/"):
        glob += "**"  # a folder: everything inside it
    return glob, anchored


class Glob:
    """A compiled glob; :meth:`matches` takes a posix path relative to ``path``."""

    def __init__(self, glob: str) -> None:
        cleaned, rooted = _clean(glob)
        if not cleaned or cleaned in (".", "**"):
            cleaned = "**"
        anchored: list[str] = []
        named: list[str] = []
        for alternative in expand_braces(cleaned):
            whole = rooted or "/" in alternative
            (anchored if whole else named).append(translate(alternative))
        self.text = glob
        self._anchored = regex.compile(f"(?:{'|'.join(anchored)})") if anchored else None
        self._named = regex.compile(f"(?:{'|'.join(named)})") if named else None

    def matches(self, rel: str) -> bool:
        if self.matches_whole(rel):
            return True
        if self._named is not None:
            return any(self._named.fullmatch(part) for part in rel.split("/"))
        return False

    def matches_whole(self, rel: str) -> bool:
        """Only the alternatives with a "/", against the whole path."""
        return self._anchored is not None and self._anchored.fullmatch(rel) is not None


def path_filter(glob: str | None, start_rel: str) -> Callable[[str], bool] | None:
    """A test on project-relative paths: does ``glob`` match below ``start_rel``?

    None when there is no glob (everything matches).
    """
    if not glob or not glob.strip():
        return None
    compiled = Glob(glob)
    prefix = "" if start_rel in ("", ".") else start_rel.rstrip("/") + "/"

    def keep(rel: str) -> bool:
        if prefix and rel.startswith(prefix):
            below = rel[len(prefix) :]
        elif prefix:
            below = rel.rpartition("/")[2]  # a single file named as path
        else:
            below = rel
        # Written from the project root instead: only a glob with "/" can say so.
        return compiled.matches(below) or bool(prefix and compiled.matches_whole(rel))

    return keep
