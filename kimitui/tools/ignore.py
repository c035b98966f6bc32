"""Which files the model sees in listings and searches.

Real repositories hold virtualenvs, node_modules and build output that would
drown every listing and cost tokens. We honour ``.gitignore`` at every level
(deeper files take precedence, as in git), ``.git/info/exclude`` and a
built-in set, and prune ignored folders without entering them.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pathspec

BUILTIN_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".jj",
        "node_modules",
        "bower_components",
        ".venv",
        "venv",
        "__pycache__",
        ".eggs",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".tox",
        ".nox",
        ".cache",
        ".next",
        ".nuxt",
        ".parcel-cache",
        ".gradle",
        ".terraform",
        ".idea",
        "build",
        "dist",
        "htmlcov",
    }
)
BUILTIN_DIR_GLOBS = ("*.egg-info",)
# ".git" as a file: a submodule's or worktree's pointer to its repository
BUILTIN_FILE_GLOBS = (
    "*.pyc",
    "*.pyo",
    "*.so",
    ".DS_Store",
    ".coverage",
    "*.kimitui-tmp",
    ".git",
)

Level = tuple[str, pathspec.GitIgnoreSpec]  # (folder prefix like "src/", rules)


MAX_IGNORE_FILE_BYTES = 1024 * 1024


def _load(path: Path) -> list[str]:
    """Lines of an ignore file; none when it is not a regular file of sane size.

    A hostile repository can make ``.gitignore`` a FIFO (opening it would block
    every listing) or a link to ``/dev/zero`` (reading it would never end).
    """
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_IGNORE_FILE_BYTES:
            return []
        return path.read_text("utf-8", "replace").splitlines()
    except (OSError, ValueError):
        return []


def builtin_ignored(name: str, is_dir: bool) -> bool:
    if is_dir:
        return name in BUILTIN_DIRS or any(fnmatch.fnmatch(name, g) for g in BUILTIN_DIR_GLOBS)
    return any(fnmatch.fnmatch(name, g) for g in BUILTIN_FILE_GLOBS)


def git_ignored(rel: str, is_dir: bool, levels: list[Level]) -> bool:
    """Deepest .gitignore with a matching rule decides, as git does."""
    for prefix, spec in reversed(levels):
        sub = rel[len(prefix) :] + ("/" if is_dir else "")
        result = spec.check_file(sub)
        if result.include is not None:
            return bool(result.include)
    return False


def named_builtins(start_rel: str) -> frozenset[str]:
    """Built-in ignored names in a path the model named: inside ``node_modules`` the
    nested ``node_modules`` folders are the packages, so they are not skipped."""
    if start_rel in ("", "."):
        return frozenset()
    return frozenset(p for p in start_rel.split("/") if builtin_ignored(p, True))


class IgnoreRules:
    """Ignore decisions for one project root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root_lines = _load(root / ".git" / "info" / "exclude") + _load(root / ".gitignore")
        self._root_level: list[Level] = [("", pathspec.GitIgnoreSpec.from_lines(root_lines))]
        self._levels: dict[str, list[Level]] = {}
        self._named: dict[str, list[Level]] = {}

    def levels_for(self, rel_dir: str) -> list[Level]:
        """Rules in force inside ``rel_dir`` (posix, relative; "." for the root)."""
        rel_dir = "" if rel_dir in ("", ".") else rel_dir.strip("/")
        if rel_dir not in self._levels:
            self._levels[rel_dir] = self._compute_levels(rel_dir)
        return self._levels[rel_dir]

    def _compute_levels(self, rel_dir: str) -> list[Level]:
        if not rel_dir:
            return list(self._root_level)
        parent, _, _ = rel_dir.rpartition("/")
        levels = list(self.levels_for(parent))
        lines = _load(self.root / rel_dir / ".gitignore")
        if lines:
            levels.append((rel_dir + "/", pathspec.GitIgnoreSpec.from_lines(lines)))
        return levels

    def named_levels(self, start_rel: str) -> list[Level]:
        """Rules in force inside ``start_rel``, a folder the model named on purpose.

        A folder that is itself ignored (``docs/_build``, ``.venv``) is searched
        when named: the rules that ignore it or a folder above it are dropped,
        since they would match everything inside it; rules that match files in
        it on their own (``*.pyc``) stay.
        """
        start_rel = "" if start_rel in ("", ".") else start_rel.strip("/")
        if start_rel not in self._named:
            self._named[start_rel] = self._compute_named(start_rel)
        return self._named[start_rel]

    def _compute_named(self, start_rel: str) -> list[Level]:
        levels = self.levels_for(start_rel)
        if not start_rel:
            return levels
        target = start_rel + "/"
        out: list[Level] = []
        for prefix, spec in levels:
            if target.startswith(prefix) and any(
                p.match_file(target[len(prefix) :]) for p in spec.patterns
            ):
                kept = [p for p in spec.patterns if not p.match_file(target[len(prefix) :])]
                spec = pathspec.GitIgnoreSpec(kept)
            out.append((prefix, spec))
        return out

    def is_ignored(self, rel: str, is_dir: bool, below: str = "") -> bool:
        """Whether ``rel`` or any folder above it is ignored.

        With ``below`` (a folder or file the model named on purpose), only the
        parts of ``rel`` deeper than ``below`` count, judged as :meth:`iter_files`
        judges them under a named folder: naming an ignored folder searches it,
        while junk inside it (``__pycache__``) stays out.
        """
        below = "" if below in ("", ".") else below.strip("/")
        parts = rel.split("/")
        skip = len(below.split("/")) if below else 0
        allow = named_builtins(below)
        base = self.levels_for(below) if below else []
        named = self.named_levels(below) if below else []
        for depth in range(skip + 1, len(parts) + 1):
            sub = "/".join(parts[:depth])
            sub_is_dir = is_dir or depth < len(parts)
            parent = "/".join(parts[: depth - 1])
            name = parts[depth - 1]
            if builtin_ignored(name, sub_is_dir) and name not in allow:
                return True
            if sub_is_dir and (self.root / sub / "pyvenv.cfg").exists():
                return True  # a virtualenv under any name
            levels = self.levels_for(parent)
            if below:
                levels = named + levels[len(base) :]
            if git_ignored(sub, sub_is_dir, levels):
                return True
        return False

    def iter_files(self, start_rel: str = ".") -> Iterator[str]:
        """Relative posix paths of the non-ignored files under ``start_rel`` (unordered).

        ``start_rel`` itself may be ignored (see :meth:`named_levels`).
        Symlinked folders are not entered (loops, and links leading out of the
        project); symlinked files are listed and checked when read. Only
        regular files are listed: never FIFOs, sockets or devices.
        """
        start_rel = "" if start_rel in ("", ".") else start_rel.strip("/")
        allow = named_builtins(start_rel)
        stack: list[tuple[str, list[Level]]] = [(start_rel, self.named_levels(start_rel))]
        while stack:
            rel_dir, levels = stack.pop()
            prefix = rel_dir + "/" if rel_dir else ""
            try:
                with os.scandir(self.root / rel_dir) as it:
                    entries = list(it)
            except OSError:
                continue
            names = {e.name for e in entries}
            if "pyvenv.cfg" in names and rel_dir != start_rel:
                continue  # a virtualenv under any name
            if ".gitignore" in names and rel_dir and rel_dir != start_rel:
                lines = _load(self.root / prefix / ".gitignore")
                levels = [*levels, (prefix, pathspec.GitIgnoreSpec.from_lines(lines))]
            yield from self._scan(entries, prefix, levels, stack, allow)

    def _scan(
        self,
        entries: list[os.DirEntry[str]],
        prefix: str,
        levels: list[Level],
        stack: list[tuple[str, list[Level]]],
        allow: frozenset[str] = frozenset(),
    ) -> Iterator[str]:
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                is_file = not is_dir and entry.is_file()
            except OSError:
                continue
            if not (is_dir or is_file):
                continue
            if builtin_ignored(entry.name, is_dir) and entry.name not in allow:
                continue
            rel = prefix + entry.name
            if git_ignored(rel, is_dir, levels):
                continue
            if is_dir:
                stack.append((rel, levels))
            else:
                yield rel
