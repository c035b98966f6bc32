"""What a shell command would do, before it runs: the allow/deny lists and its
blast radius.

``[commands] allow`` and ``deny`` entries are argv prefixes (``"ruff check"``)
matched against EVERY simple command of the parsed line, never against the raw
string: ``ruff check; rm -rf ~`` holds ``rm -rf ~``, which no ``ruff check``
entry covers. A line is covered by the allow-list only when each of its
programs is, with literal words; substitutions, assignments, ``eval`` and
shells given code (``sh -c``) never are, since what they run is not on the line.

Destructive forms are flagged with the paths they touch and how many files
are under each, resolved against the project root (``cd`` is followed).
"""

from __future__ import annotations

import glob as globlib
import os
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kimitui.tools.shparse import Parsed, ParseError, SimpleCommand, Word, parse

__all__ = ["CommandCheck", "CommandPolicy", "Flag", "ParseError", "Touched", "check_command"]

# Programs whose arguments are code or another program: never covered by an allow entry.
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "fish", "csh", "tcsh", "busybox"})
CODE_RUNNERS = SHELLS | {"eval", "source", ".", "exec", "alias", "trap"}
# Wrappers that run their argument as a program: looked through for flags and deny.
WRAPPERS = frozenset(
    {"command", "builtin", "env", "exec", "nohup", "time", "nice", "ionice", "timeout",
     "stdbuf", "setsid", "sudo", "doas", "xargs", "chronic", "unbuffer", "!"}
)  # fmt: skip
# Options of wrappers that take a value (the value is not the program).
WRAPPER_VALUE_OPTS = {
    "env": {"-u", "--unset", "-C", "--chdir", "-S", "--split-string"},
    "nice": {"-n", "--adjustment"},
    "ionice": {"-c", "-n", "-p", "--class", "--classdata"},
    "timeout": {"-s", "--signal", "-k", "--kill-after"},
    "stdbuf": {"-i", "-o", "-e"},
    "sudo": {"-u", "-g", "-C", "-D", "-h", "-p", "-U", "-r", "-t"},
    "xargs": {"-a", "-d", "-E", "-e", "-I", "-i", "-L", "-l", "-n", "-P", "-s", "--delimiter",
              "--arg-file", "--max-args", "--max-procs", "--replace"},
}  # fmt: skip
COUNT_CAP = 100_000


@dataclass(frozen=True)
class Touched:
    """One path a destructive form would touch, as far as it can be known now."""

    shown: str  # as written
    files: int | None  # files under it now (None: not known before it runs)
    outside: bool = False  # resolves outside the project
    exists: bool = True
    capped: bool = False

    def describe(self) -> str:
        if self.files is None:
            where = "only known when it runs"
        elif not self.exists:
            where = "does not exist"
        else:
            more = "+" if self.capped else ""
            where = f"{self.files}{more} file{'s' if self.files != 1 else ''}"
        out = ", OUTSIDE the project" if self.outside else ""
        return f"{self.shown} ({where}{out})"


@dataclass(frozen=True)
class Flag:
    kind: str  # e.g. "rm -r", "git reset --hard", "truncating >"
    command: str  # the simple command it came from
    touched: tuple[Touched, ...] = ()

    @property
    def outside(self) -> bool:
        return any(t.outside for t in self.touched)

    def describe(self) -> str:
        if not self.touched:
            return f"{self.kind}: {self.command}"
        return f"{self.kind}: " + ", ".join(t.describe() for t in self.touched)


@dataclass(frozen=True)
class CommandPolicy:
    """``[commands] allow`` and ``deny``, each entry an argv prefix."""

    allow: tuple[tuple[str, ...], ...] = ()
    deny: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def from_config(cls, allow: Sequence[str] = (), deny: Sequence[str] = ()) -> CommandPolicy:
        return cls(_entries(allow, "allow"), _entries(deny, "deny"))

    def with_allowed(self, prefix: Sequence[str]) -> CommandPolicy:
        entry = tuple(prefix)
        return self if entry in self.allow else CommandPolicy((*self.allow, entry), self.deny)


def _entries(items: Sequence[str], name: str) -> tuple[tuple[str, ...], ...]:
    out = []
    for item in items:
        try:
            words = tuple(shlex.split(item))
        except ValueError as exc:
            raise ValueError(f"[commands] {name}: cannot read {item!r}: {exc}") from None
        if not words:
            raise ValueError(f"[commands] {name}: an entry is empty")
        out.append(words)
    return tuple(out)


@dataclass
class CommandCheck:
    """Everything the gate shows and decides on, for one command line."""

    command: str
    parsed: Parsed
    flags: list[Flag] = field(default_factory=list)
    allowed_by: tuple[str, ...] | None = None  # the allow entry covering every program
    denied_by: tuple[tuple[str, ...], str] | None = None  # (entry, the program it matched)
    notes: list[str] = field(default_factory=list)  # why the allow-list does not cover it

    @property
    def allowed(self) -> bool:
        return self.allowed_by is not None and not self.flags and self.denied_by is None

    @property
    def outside(self) -> bool:
        return any(f.outside for f in self.flags)

    @property
    def destructive(self) -> bool:
        return bool(self.flags)

    def flag_lines(self) -> list[str]:
        return [f.describe() for f in self.flags]

    def suggested_prefix(self) -> tuple[str, ...] | None:
        """What "always allow this" would add: the first program's name and subcommand."""
        programs = self.parsed.programs
        if len(programs) != 1 or not programs[0].words[0].literal:
            return None
        words = programs[0].words
        prefix = [words[0].value]
        if len(words) > 1 and words[1].literal and not words[1].value.startswith("-"):
            prefix.append(words[1].value)
        if prefix[0] in CODE_RUNNERS or _base(prefix[0]) in CODE_RUNNERS:
            return None
        return tuple(prefix)


def check_command(command: str, root: Path, policy: CommandPolicy) -> CommandCheck:
    """Parse ``command`` (ParseError when it cannot be) and judge it."""
    if not command.strip():
        raise ParseError("the command is empty")
    parsed = parse(command)
    result = CommandCheck(command, parsed)
    result.flags = _Radius(root.resolve()).flags(parsed)
    result.denied_by = _denied(parsed, policy)
    result.allowed_by = _allowed(parsed, policy, result.notes)
    return result


# -- the allow and deny lists ---------------------------------------------------


def _allowed(parsed: Parsed, policy: CommandPolicy, notes: list[str]) -> tuple[str, ...] | None:
    if parsed.substitutions:
        notes.append(
            "it runs $(...), backticks or <(...), whose commands the list cannot vouch for"
        )
    if parsed.has_assignments:
        notes.append("it sets variables, which can change what a program does")
    programs = parsed.programs
    if not programs:
        notes.append("it runs no program")
    covering: tuple[str, ...] | None = None
    for cmd in programs:
        entry = _matching_entry(cmd, policy.allow)
        if entry is None:
            notes.append(f"`{cmd.text()}` is not covered by [commands] allow")
        elif covering is None:
            covering = entry
    return covering if not notes else None


def _matching_entry(
    cmd: SimpleCommand, entries: Sequence[tuple[str, ...]]
) -> tuple[str, ...] | None:
    first = cmd.words[0]
    if not first.literal or first.value in CODE_RUNNERS or _base(first.value) in CODE_RUNNERS:
        return None
    for entry in entries:
        if _prefix_equal(cmd.words, entry, basename=False):
            return entry
    return None


def _prefix_equal(words: Sequence[Word], entry: tuple[str, ...], *, basename: bool) -> bool:
    if len(words) < len(entry):
        return False
    for i, (word, want) in enumerate(zip(words, entry, strict=False)):
        if not word.literal:
            return False
        value = _base(word.value) if basename and i == 0 else word.value
        if value != want:
            return False
    return True


def _denied(parsed: Parsed, policy: CommandPolicy) -> tuple[tuple[str, ...], str] | None:
    if not policy.deny:
        return None
    for cmd in parsed.programs:
        for words in _views(cmd.words):
            for entry in policy.deny:
                if _prefix_equal(words, entry, basename=True):
                    return entry, " ".join(w.raw for w in words)
    return None


def _views(words: list[Word], depth: int = 0) -> Iterator[list[Word]]:
    """The argv as written, then the program each wrapper (env, xargs, ...) runs."""
    yield words
    if depth > 8 or not words or not words[0].literal:
        return
    name = _base(words[0].value)
    inner = _unwrap(name, words)
    if inner:
        yield from _views(inner, depth + 1)
    if name in SHELLS or name == "eval":
        for sub in _shell_code(name, words):
            yield from _views(sub.words, depth + 1)


def _unwrap(name: str, words: list[Word]) -> list[Word] | None:
    if name not in WRAPPERS:
        return None
    value_opts = WRAPPER_VALUE_OPTS.get(name, set())
    i = 1
    if name == "timeout":
        while i < len(words) and words[i].value.startswith("-"):
            i += 2 if words[i].value in value_opts else 1
        i += 1  # the duration
    while i < len(words):
        v = words[i].value
        if v == "--":
            i += 1
            break
        if name == "env" and "=" in v and not v.startswith("-"):
            i += 1
        elif v.startswith("-") and len(v) > 1:
            i += 2 if v in value_opts else 1
        else:
            break
    return words[i:] if i < len(words) else None


def _shell_code(name: str, words: list[Word]) -> list[SimpleCommand]:
    """`sh -c CODE` and `eval CODE`: the code's own commands, when it is literal."""
    if name == "eval":
        code_words = words[1:]
    else:
        idx = next(
            (
                i
                for i, w in enumerate(words[1:], 1)
                if w.value.startswith("-") and "c" in w.value[1:] and not w.value.startswith("--")
            ),
            None,
        )
        if idx is None or idx + 1 >= len(words):
            return []
        code_words = [words[idx + 1]]
    if any(w.dynamic for w in code_words):
        return []
    try:
        return parse(" ".join(w.value for w in code_words)).programs
    except ParseError:
        return []


def _base(program: str) -> str:
    return program.rsplit("/", 1)[-1]


# -- blast radius ----------------------------------------------------------------


class _Radius:
    """Flags destructive forms and resolves their paths, following `cd`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cwd: Path | None = root  # None: unknown after a dynamic cd

    def flags(self, parsed: Parsed) -> list[Flag]:
        found: list[Flag] = []
        for cmd in parsed.commands:
            found.extend(self._redirects(cmd))
            if not cmd.words:
                continue
            for words in _views(cmd.words):
                found.extend(self._command(words))
            self._follow_cd(cmd.words)
        return _dedupe(found)

    def _follow_cd(self, words: list[Word]) -> None:
        if _base(words[0].value) not in ("cd", "pushd") or not words[0].literal:
            return
        args = [w for w in words[1:] if not w.value.startswith("-") or w.value == "-"]
        if not args:
            self.cwd = Path(os.path.expanduser("~"))
        elif args[0].literal and args[0].value != "-" and self.cwd is not None:
            self.cwd = Path(os.path.normpath(self.cwd / args[0].value))
        else:
            self.cwd = None

    def _redirects(self, cmd: SimpleCommand) -> list[Flag]:
        out = []
        for r in cmd.redirects:
            if r.target is None or r.op not in (">", ">|", "&>", "<>"):
                continue
            if r.target.value in ("/dev/null", "/dev/stdout", "/dev/stderr"):
                continue
            touched = self._touch(r.target, count=False)
            for t in touched:
                if t.exists or t.files is None:
                    out.append(Flag(f"truncating {r.op}", cmd.text(), (t,)))
                elif t.outside:
                    out.append(Flag(f"writes {r.op} outside the project", cmd.text(), (t,)))
        return out

    def _command(self, words: list[Word]) -> list[Flag]:
        first = words[0]
        if not first.literal:
            return [Flag("program only known when it runs", " ".join(w.raw for w in words))]
        name = _base(first.value)
        text = " ".join(w.raw for w in words)
        rule = _RULES.get(name)
        if rule is None:
            return []
        return rule(self, words, text)

    # -- paths ---------------------------------------------------------------

    def _touch(self, word: Word, *, count: bool = True) -> list[Touched]:
        if word.dynamic or word.brace or self.cwd is None:
            return [Touched(word.raw, None, outside=self._maybe_outside(word))]
        if word.glob:
            return self._glob(word, count)
        path = Path(os.path.normpath(self.cwd / word.value))
        return [self._measure(word.raw, path, count)]

    def _maybe_outside(self, word: Word) -> bool:
        v = word.value
        if self.cwd is None or v.startswith(("$", "`", "~")):
            return True  # a path only known at run time may be anywhere
        if v.startswith("/"):
            return not self._inside(Path(os.path.normpath(v.split("$")[0] or "/")))
        return v.startswith("..") or not self._inside(self.cwd)

    def _glob(self, word: Word, count: bool) -> list[Touched]:
        assert self.cwd is not None
        pattern = word.value if os.path.isabs(word.value) else str(self.cwd / word.value)
        matches = [Path(os.path.normpath(m)) for m in globlib.glob(pattern)]
        if not matches:
            return [
                Touched(word.raw, 0, outside=not self._inside(Path(pattern).parent), exists=False)
            ]
        files = 0
        capped = False
        outside = False
        for m in matches:
            t = self._measure(str(m), m, count)
            files += t.files or 0
            capped |= t.capped
            outside |= t.outside
        shown = f"{word.raw} → {len(matches)} path{'s' if len(matches) != 1 else ''}"
        return [Touched(shown, files, outside=outside, capped=capped)]

    def _inside(self, path: Path) -> bool:
        try:
            resolved = path.resolve()
        except OSError:
            resolved = path
        return resolved == self.root or resolved.is_relative_to(self.root)

    def _measure(self, shown: str, path: Path, count: bool) -> Touched:
        outside = not self._inside(path)
        if not (path.exists() or path.is_symlink()):
            return Touched(shown, 0, outside=outside, exists=False)
        if outside or not count or not path.is_dir() or path.is_symlink():
            # Outside the project nothing is counted: `rm -rf /` needs no census.
            return Touched(shown, 1, outside=outside)
        files, capped = _count_files(path)
        return Touched(shown, files, outside=outside, capped=capped)

    def _paths(self, words: list[Word]) -> list[Touched]:
        out: list[Touched] = []
        for w in words:
            out.extend(self._touch(w))
        return out


def _count_files(folder: Path) -> tuple[int, bool]:
    n = 0
    stack = [folder]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            else:
                n += 1
                if n >= COUNT_CAP:
                    return n, True
    return n, False


def _split_opts(words: list[Word]) -> tuple[set[str], list[Word]]:
    """Short options (split: -rf is r and f), long options, and the operands."""
    opts: set[str] = set()
    operands: list[Word] = []
    ended = False
    for w in words:
        v = w.value
        if ended or (not w.literal and not v.startswith("-")):
            operands.append(w)
        elif v == "--":
            ended = True
        elif v.startswith("--"):
            opts.add(v.split("=", 1)[0])
        elif v.startswith("-") and len(v) > 1:
            opts.update("-" + ch for ch in v[1:])
        else:
            operands.append(w)
    return opts, operands


# -- one rule per destructive program ----------------------------------------------


def _rm(r: _Radius, words: list[Word], text: str) -> list[Flag]:
    opts, operands = _split_opts(words[1:])
    kind = "rm"
    touched = tuple(r._paths(operands)) or (Touched("paths from its input", None),)
    if opts & {"-r", "-R", "--recursive"}:
        kind += " -r"
    if opts & {"-f", "--force"}:
        kind += " -f"
    return [Flag(kind, text, touched)]


def _simple(kind: str):
    def rule(r: _Radius, words: list[Word], text: str) -> list[Flag]:
        _, operands = _split_opts(words[1:])
        return [Flag(kind, text, tuple(r._paths(operands)))]

    return rule


def _recursive_only(kind: str):
    def rule(r: _Radius, words: list[Word], text: str) -> list[Flag]:
        opts, operands = _split_opts(words[1:])
        if not opts & {"-R", "--recursive"}:
            return []
        return [Flag(f"{kind} -R", text, tuple(r._paths(operands[1:])))]

    return rule


def _dd(r: _Radius, words: list[Word], text: str) -> list[Flag]:
    targets = [w for w in words[1:] if w.value.startswith("of=")]
    touched = []
    for w in targets:
        touched.extend(r._touch(Word(w.raw[3:], w.value[3:], w.dynamic, w.glob, w.brace)))
    return [Flag("dd", text, tuple(touched))]


def _over_existing(kind: str):
    """mv/cp onto a file that exists replaces it."""

    def rule(r: _Radius, words: list[Word], text: str) -> list[Flag]:
        _opts, operands = _split_opts(words[1:])
        if len(operands) < 2 or r.cwd is None:
            return []
        dest = operands[-1]
        if not dest.literal:
            return [
                Flag(f"{kind} onto a path only known when it runs", text, tuple(r._touch(dest)))
            ]
        target = Path(os.path.normpath(r.cwd / dest.value))
        hit: list[Touched] = []
        if target.is_dir():
            for src in operands[:-1]:
                if src.literal and (target / Path(src.value).name).exists():
                    hit.append(
                        r._measure(
                            f"{dest.raw}/{Path(src.value).name}",
                            target / Path(src.value).name,
                            True,
                        )
                    )
        elif target.exists():
            hit.append(r._measure(dest.raw, target, True))
        if not hit and not r._inside(target):
            return [
                Flag(f"{kind} outside the project", text, (r._measure(dest.raw, target, False),))
            ]
        return [Flag(f"{kind} over an existing file", text, tuple(hit))] if hit else []

    return rule


def _find(r: _Radius, words: list[Word], text: str) -> list[Flag]:
    values = [w.value for w in words]
    deletes = "-delete" in values
    for key in ("-exec", "-execdir", "-ok", "-okdir"):
        if key in values:
            i = values.index(key)
            if i + 1 < len(values) and _base(values[i + 1]) in ("rm", "shred", "unlink", "rmdir"):
                deletes = True
    if not deletes:
        return []
    starts = []
    for w in words[1:]:
        if w.value.startswith(("-", "(", "!")):
            break
        starts.append(w)
    touched = r._paths(starts) if starts else r._paths([Word(".", ".")])
    return [Flag("find -delete", text, tuple(touched))]


def _git(r: _Radius, words: list[Word], text: str) -> list[Flag]:
    i = 1
    while i < len(words) and words[i].value.startswith("-"):
        i += 2 if words[i].value in ("-C", "-c", "--git-dir", "--work-tree") else 1
    if i >= len(words):
        return []
    sub = words[i].value
    rest = words[i + 1 :]
    values = [w.value for w in rest]
    opts, operands = _split_opts(rest)
    # What git clean/reset would drop depends on git's own view: not counted here
    # (running git on a hostile repo's config before the gate is itself a risk).
    if sub == "clean":
        return [Flag("git clean", text, (Touched("untracked files", None, r.cwd is None),))]
    if sub == "reset" and "--hard" in values:
        return [Flag("git reset --hard", text, (Touched("uncommitted changes", None),))]
    here = r._touch(Word(".", "."))
    if sub == "checkout" and ("--" in values or "." in values or opts & {"-f", "--force"}):
        paths = r._paths(operands) if operands else here
        return [Flag("git checkout --", text, tuple(paths))]
    if sub == "restore":
        return [Flag("git restore", text, tuple(r._paths(operands) if operands else here))]
    if sub == "push" and (
        opts & {"-f", "--force", "--force-with-lease", "--mirror", "--delete", "-d"}
        or any(v.startswith(("+", ":")) for v in values)
    ):
        return [Flag("git push --force", text)]
    if sub == "stash" and values[:1] in (["drop"], ["clear"]):
        return [Flag(f"git stash {values[0]}", text)]
    if sub == "branch" and opts & {"-D"}:
        return [Flag("git branch -D", text)]
    return []


def _shell(r: _Radius, words: list[Word], text: str) -> list[Flag]:
    """A shell or eval whose code this check cannot read runs anything at all."""
    name = _base(words[0].value)
    if _shell_code(name, words):
        return []
    if name == "eval" or any(w.value.startswith("-") and "c" in w.value[1:] for w in words[1:]):
        return [Flag("shell code only known when it runs", text)]
    if len(words) == 1 or all(w.value.startswith("-") for w in words[1:]):
        return [Flag("shell reading code from its input", text)]
    return []


_RULES = {
    **{name: _shell for name in (*SHELLS, "eval")},
    "rm": _rm,
    "rmdir": _simple("rmdir"),
    "unlink": _simple("unlink"),
    "shred": _simple("shred"),
    "truncate": _simple("truncate"),
    "dd": _dd,
    "chmod": _recursive_only("chmod"),
    "chown": _recursive_only("chown"),
    "chgrp": _recursive_only("chgrp"),
    "mv": _over_existing("mv"),
    "cp": _over_existing("cp"),
    "find": _find,
    "git": _git,
}


def _dedupe(flags: list[Flag]) -> list[Flag]:
    seen: set[tuple[str, str]] = set()
    out = []
    for f in flags:
        key = (f.kind, f.describe())
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
