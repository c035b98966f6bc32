"""A POSIX shell command line, parsed into its simple commands.

Enough of the ``sh`` grammar to know every program a line would start and with
which literal words: pipes, ``&&``, ``||``, ``;``, ``&``, newlines, subshells,
``{ ...; }`` groups, ``if``/``while``/``for`` bodies, ``$(...)``, backticks,
process substitution, redirects, here-documents and all quoting. Constructs
whose meaning this cannot pin down, or that differ between ``dash`` and
``bash`` (``$'...'``, ``case``, function definitions), are refused with a
:class:`ParseError` rather than guessed: a wrong guess is an allow-list bypass.

Words keep whether any part of them is only known at run time (an expansion,
a substitution, a glob, a brace list): such a word never equals a literal.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

OPERATOR_CHARS = "|&;()<>"
SEPARATORS = frozenset({"|", "||", "&&", ";", "&", "\n", "|&"})
REDIRECTS = ("<<<", "<<-", "&>>", "<<", ">>", ">|", "<>", "<&", ">&", "&>", "<", ">")
# Reserved words that only shape control flow: the commands around them are what runs.
FLOW_WORDS = frozenset(
    {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}"}
)
REFUSED_WORDS = {
    "case": "`case` statements are not supported; write the commands out",
    "function": "function definitions are not supported; write the commands out",
    "select": "`select` is not supported",
    "coproc": "`coproc` is not supported",
    "[[": "[[ ... ]] is bash-only; use [ ... ] or test",
}
MAX_DEPTH = 20


class ParseError(ValueError):
    """The command cannot be parsed safely; the message says what to change."""


@dataclass(frozen=True)
class Word:
    raw: str  # as written, for display
    value: str  # after quote removal; run-time parts replaced by their source
    dynamic: bool = False  # holds an expansion or substitution
    glob: bool = False  # holds an unquoted * ? or [
    brace: bool = False  # an unquoted {a,b} (bash expands it, dash does not)

    @property
    def literal(self) -> bool:
        return not (self.dynamic or self.glob or self.brace)


@dataclass(frozen=True)
class Redirect:
    op: str
    target: Word | None  # None for fd duplications (2>&1) and here-documents


@dataclass
class SimpleCommand:
    words: list[Word] = field(default_factory=list)
    assigns: list[str] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)
    nested: bool = False  # inside $(...), backticks or <(...)

    @property
    def argv(self) -> list[str]:
        return [w.value for w in self.words]

    def text(self) -> str:
        return " ".join(w.raw for w in self.words)


@dataclass
class Parsed:
    source: str
    commands: list[SimpleCommand]
    substitutions: int = 0  # $(...), backticks, <(...) seen
    has_assignments: bool = False

    @property
    def programs(self) -> list[SimpleCommand]:
        return [c for c in self.commands if c.words]


def parse(source: str) -> Parsed:
    """Every simple command of ``source``; raises ParseError when it cannot be sure."""
    if "\x00" in source:
        raise ParseError("the command contains a NUL byte")
    parser = _Parser(source, depth=0)
    parser.parse_list(until=None)
    return Parsed(source, parser.commands, parser.substitutions, parser.has_assignments)


class _Parser:
    def __init__(self, s: str, depth: int, nested: bool = False) -> None:
        if depth > MAX_DEPTH:
            raise ParseError("the command nests too deeply")
        self.s = s
        self.i = 0
        self.depth = depth
        self.nested = nested
        self.commands: list[SimpleCommand] = []
        self.substitutions = 0
        self.has_assignments = False
        self._heredocs: list[tuple[str, bool]] = []  # (delimiter, quoted)

    # -- structure -------------------------------------------------------

    def parse_list(self, until: str | None) -> None:
        """Read commands until ``until`` (')' or '`'), or the end of the text."""
        current = self._new()
        header: str | None = None  # inside a `for NAME in WORDS` header
        while True:
            self._skip_blanks()
            if self.i >= len(self.s):
                if until is not None:
                    raise ParseError("unclosed ( or $(: add the missing ')'")
                return
            c = self.s[self.i]
            if c == "#":
                self._skip_comment()
                continue
            if until == ")" and c == ")":
                self.i += 1
                return
            if self.s.startswith(("<(", ">("), self.i):
                current.words.append(self._process_sub())
                continue
            op = self._operator()
            if op is not None:
                current, header = self._on_operator(op, current, header)
                continue
            word = self._word()
            if word is None:
                continue
            if header is not None:
                header = None if word.value == "do" and word.literal else header
                continue
            if not current.words and not current.assigns:
                if word.raw in REFUSED_WORDS:
                    raise ParseError(REFUSED_WORDS[word.raw])
                if word.raw in FLOW_WORDS:
                    continue
                if word.raw == "for":
                    header = "for"
                    continue
            if not current.words and _is_assignment(word):
                current.assigns.append(word.raw)
                self.has_assignments = True
                continue
            current.words.append(word)

    def _on_operator(
        self, op: str, current: SimpleCommand, header: str | None
    ) -> tuple[SimpleCommand, str | None]:
        if op in SEPARATORS:
            if op == "\n":
                self._read_heredocs()
            return self._new(), header if op in ("\n", ";") and header else None
        if op == ";;":
            raise ParseError("`case` statements are not supported; write the commands out")
        if op == "(":
            if current.words:
                raise ParseError("function definitions are not supported; write the commands out")
            self._sub(until=")")
            return self._new(), None
        if op == ")":
            raise ParseError("unexpected ')': the parentheses do not match")
        self._redirect(op, current)
        return current, header

    def _process_sub(self) -> Word:
        """``<(cmd)``: a word naming a pipe, and ``cmd`` runs."""
        start = self.i
        self.i += 2
        self.substitutions += 1
        inner = _Parser(self.s, self.depth + 1, nested=True)
        inner.i = self.i
        inner.parse_list(until=")")
        self.i = inner.i
        self._absorb(inner)
        return Word(self.s[start : self.i], self.s[start : self.i], dynamic=True)

    def _new(self) -> SimpleCommand:
        command = SimpleCommand(nested=self.nested)
        self.commands.append(command)
        return command

    def _sub(self, until: str) -> None:
        """A subshell or $(...): its commands join ours (nested for substitutions)."""
        inner = _Parser(self.s, self.depth + 1, self.nested)
        inner.i = self.i
        inner.parse_list(until=until)
        self.i = inner.i
        self._absorb(inner)

    def _absorb(self, inner: _Parser) -> None:
        self.commands.extend(inner.commands)
        self.substitutions += inner.substitutions
        self.has_assignments = self.has_assignments or inner.has_assignments

    # -- tokens ----------------------------------------------------------

    def _skip_blanks(self) -> None:
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in " \t\r":
                self.i += 1
            elif self.s.startswith("\\\n", self.i):
                self.i += 2
            else:
                return

    def _skip_comment(self) -> None:
        end = self.s.find("\n", self.i)
        self.i = len(self.s) if end < 0 else end

    def _operator(self) -> str | None:
        s, i = self.s, self.i
        if s[i] == "\n":
            self.i += 1
            return "\n"
        for op in (";;", "&&", "||", "|&", *REDIRECTS, "|", "&", ";", "(", ")"):
            if s.startswith(op, i):
                self.i += len(op)
                return op
        return None

    def _redirect(self, op: str, current: SimpleCommand) -> None:
        self._skip_blanks()
        if op in ("<<", "<<-"):
            delim = self._word()
            if delim is None or delim.dynamic:
                raise ParseError("a here-document needs a plain delimiter word after <<")
            quoted = delim.raw != delim.value
            self._heredocs.append((delim.value, quoted))
            current.redirects.append(Redirect(op, None))
            return
        if self.s.startswith(("<(", ">("), self.i):
            current.redirects.append(Redirect(op, self._process_sub()))
            return
        target = self._word()
        if target is None:
            raise ParseError(f"the redirect {op} has no target")
        dup = op in ("<&", ">&") and (target.value.isdigit() or target.value == "-")
        current.redirects.append(Redirect(op, None if dup else target))

    def _read_heredocs(self) -> None:
        for delim, quoted in self._heredocs:
            while self.i < len(self.s):
                nl = self.s.find("\n", self.i)
                stop = len(self.s) if nl < 0 else nl
                line = self.s[self.i : stop]
                self.i = stop + 1 if nl >= 0 else stop
                if line.lstrip("\t") == delim:
                    break
                if not quoted and ("$(" in line or "`" in line):
                    raise ParseError(
                        "a here-document with $(...) or backticks in it is not supported; "
                        "quote its delimiter (<<'EOF') or write the file with write_file"
                    )
        self._heredocs = []

    def _word(self) -> Word | None:
        start = self.i
        value: list[str] = []
        dynamic = glob = brace = False
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c in " \t\r\n" or c in OPERATOR_CHARS:
                if c in "<>" and s[start : self.i].isdigit():
                    # `2>file`: the digits name a descriptor, not a word.
                    return None
                break
            if c == "\\":
                if s.startswith("\\\n", self.i):
                    self.i += 2
                    continue
                if self.i + 1 >= len(s):
                    raise ParseError("the command ends with a lone backslash")
                value.append(s[self.i + 1])
                self.i += 2
            elif c == "'":
                end = s.find("'", self.i + 1)
                if end < 0:
                    raise ParseError("unclosed single quote (')")
                value.append(s[self.i + 1 : end])
                self.i = end + 1
            elif c == '"':
                dynamic |= self._double_quoted(value)
            elif c == "$":
                dynamic |= self._dollar(value)
            elif c == "`":
                self._backtick(value)
                dynamic = True
            else:
                if c in "*?[":
                    glob = True
                elif c == "{" and "," in s[self.i : _brace_end(s, self.i)]:
                    brace = True
                elif c == "~" and self.i == start:
                    value.append(_tilde(s, self.i))
                    self.i += 1
                    while self.i < len(s) and s[self.i] not in "/ \t\r\n" + OPERATOR_CHARS:
                        if s[self.i] in "\\'\"$`":
                            raise ParseError("a ~user path with quotes or $ is not supported")
                        self.i += 1
                    continue
                value.append(c)
                self.i += 1
        if self.i == start:
            return None
        return Word(s[start : self.i], "".join(value), dynamic, glob, brace)

    def _double_quoted(self, value: list[str]) -> bool:
        s = self.s
        self.i += 1
        dynamic = False
        while True:
            if self.i >= len(s):
                raise ParseError('unclosed double quote (")')
            c = s[self.i]
            if c == '"':
                self.i += 1
                return dynamic
            if c == "\\" and self.i + 1 < len(s) and s[self.i + 1] in '$`"\\\n':
                if s[self.i + 1] != "\n":
                    value.append(s[self.i + 1])
                self.i += 2
            elif c == "$":
                dynamic |= self._dollar(value, quoted=True)
            elif c == "`":
                self._backtick(value)
                dynamic = True
            else:
                value.append(c)
                self.i += 1

    def _dollar(self, value: list[str], quoted: bool = False) -> bool:
        """One $-expansion; True when it is one (a lone $ is just a character)."""
        s, i = self.s, self.i
        nxt = s[i + 1] if i + 1 < len(s) else ""
        if s.startswith("$((", i):
            end = _matching(s, i + 1)
            inner = s[i + 3 : end - 1]
            if "$(" in inner or "`" in inner:
                raise ParseError("a command substitution inside $((...)) is not supported")
            value.append(s[i : end + 1])
            self.i = end + 1
            return True
        if nxt == "(":
            self.i += 2
            self.substitutions += 1
            inner = _Parser(s, self.depth + 1, nested=True)
            inner.i = self.i
            inner.parse_list(until=")")
            value.append(s[i : inner.i])
            self.i = inner.i
            self._absorb(inner)
            return True
        if nxt == "{":
            end = s.find("}", i)
            if end < 0:
                raise ParseError("unclosed ${: add the missing }")
            inner = s[i + 2 : end]
            if any(ch in inner for ch in "$`'\"\\"):
                raise ParseError("nested expansions or quotes inside ${...} are not supported")
            value.append(s[i : end + 1])
            self.i = end + 1
            return True
        if nxt == "'" and not quoted:
            raise ParseError(
                "$'...' quoting means different things in sh and bash; use plain quotes"
            )
        if nxt == '"' and not quoted:
            raise ParseError('$"..." quoting is bash-only; use plain double quotes')
        if nxt.isalnum() or nxt == "_":
            j = i + 1
            if nxt.isdigit():
                j += 1
            else:
                while j < len(s) and (s[j].isalnum() or s[j] == "_"):
                    j += 1
            value.append(s[i:j])
            self.i = j
            return True
        if nxt and nxt in "@*#?$!-":
            value.append(s[i : i + 2])
            self.i = i + 2
            return True
        value.append("$")
        self.i += 1
        return False

    def _backtick(self, value: list[str]) -> None:
        s = self.s
        j = self.i + 1
        inner: list[str] = []
        while True:
            if j >= len(s):
                raise ParseError("unclosed backtick (`)")
            c = s[j]
            if c == "`":
                break
            if c == "\\" and j + 1 < len(s) and s[j + 1] in "$`\\":
                inner.append(s[j + 1])
                j += 2
                continue
            inner.append(c)
            j += 1
        self.substitutions += 1
        sub = _Parser("".join(inner), self.depth + 1, nested=True)
        sub.parse_list(until=None)
        self._absorb(sub)
        value.append(s[self.i : j + 1])
        self.i = j + 1


def _is_assignment(word: Word) -> bool:
    name, eq, _ = word.raw.partition("=")
    return bool(eq) and name.isidentifier() and name.isascii()


def _brace_end(s: str, i: int) -> int:
    end = s.find("}", i)
    return len(s) if end < 0 else end


def _tilde(s: str, i: int) -> str:
    j = i + 1
    while j < len(s) and s[j] not in "/ \t\r\n" + OPERATOR_CHARS:
        j += 1
    user = s[i + 1 : j]
    return os.path.expanduser("~" + user) if user else os.path.expanduser("~")


def _matching(s: str, i: int) -> int:
    """Index of the ')' closing the '(' at ``i`` (quotes respected)."""
    level = 0
    j = i
    while j < len(s):
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if c == "'":
            end = s.find("'", j + 1)
            j = len(s) if end < 0 else end + 1
            continue
        if c == "(":
            level += 1
        elif c == ")":
            level -= 1
            if level == 0:
                return j
        j += 1
    raise ParseError("unclosed $((: add the missing ))")
