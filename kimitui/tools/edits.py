"""Proposed edits: diff them into hunks, apply any subset exactly, report the outcome.

``write_file`` and ``edit_file`` never touch disk. They produce a
:class:`ProposedEdit`; the gate answers with a :class:`Decision`, and
:func:`apply_decision` writes what was decided and tells the model what happened.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from kimitui.tools.eol import conform, to_lf
from kimitui.tools.limits import cap_text
from kimitui.tools.linediff import line_matcher
from kimitui.tools.workspace import SandboxError

if TYPE_CHECKING:
    from kimitui.tools.workspace import Workspace

log = logging.getLogger(__name__)

CONTEXT_LINES = 3
NO_NEWLINE = "\\ No newline at end of file"


class EditError(Exception):
    """edit_file could not locate its ``old_string``; ``str(e)`` is for the model."""


@dataclass(frozen=True)
class Hunk:
    index: int
    header: str
    old_start: int  # as in the header: 1-based, or the line before when old_count == 0
    old_count: int
    new_start: int
    new_count: int
    lines: tuple[str, ...]  # ' ', '-', '+' prefixed, no line endings (display)
    # The added lines verbatim, endings included: what apply_hunks inserts, so
    # CRLF and a missing final newline survive exactly.
    new_lines: tuple[str, ...] = field(default=(), repr=False)

    @property
    def old_index(self) -> int:
        """0-based index of the first old line this hunk covers."""
        return self.old_start - 1 if self.old_count else self.old_start


@dataclass(frozen=True)
class ProposedEdit:
    id: str
    tool: str
    path: str
    old_text: str | None
    new_text: str
    hunks: tuple[Hunk, ...]
    diff: str
    added: int
    removed: int
    unread_overwrite: bool
    old_string: str | None = None
    new_string: str | None = None
    replace_all: bool = False

    @property
    def is_new_file(self) -> bool:
        return self.old_text is None


Conflict = Literal["", "reapplied", "overwrite"]


@dataclass(frozen=True)
class Decision:
    verdict: Literal["approved", "rejected", "partial"]
    hunks: tuple[int, ...] = ()
    feedback: str = ""
    content: str | None = None
    # The file changed on disk during the review: the decision was made on this
    # re-diffed proposal (hunk indexes are its hunks), either the edit_file
    # replacement re-applied onto the new content or an explicit overwrite.
    against: ProposedEdit | None = None
    conflict: Conflict = ""

    @classmethod
    def approve_all(cls, edit: ProposedEdit, feedback: str = "") -> Decision:
        return cls("approved", tuple(h.index for h in edit.hunks), feedback)

    @classmethod
    def reject(cls, feedback: str = "") -> Decision:
        return cls("rejected", (), feedback)

    @classmethod
    def partial(cls, hunks: Iterable[int], feedback: str = "") -> Decision:
        return cls("partial", tuple(sorted(set(hunks))), feedback)

    @classmethod
    def edited(cls, content: str, feedback: str = "") -> Decision:
        return cls("approved", (), feedback, content)

    def on(self, rebased: ProposedEdit, conflict: Conflict) -> Decision:
        """This decision, made on a proposal re-diffed against a file that changed."""
        return replace(self, against=rebased, conflict=conflict)


# Called once an edit is on disk: (the proposal written, content before, content after).
WriteHook = Callable[[ProposedEdit, str | None, str], None]


# -- lines and diffs ------------------------------------------------------


def split_lines(text: str) -> list[str]:
    """Split on "\\n" only, keeping endings (str.splitlines also splits on \\f, \\x1c...)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _strip_eol(line: str) -> str:
    return line[:-2] if line.endswith("\r\n") else line.rstrip("\n")


def _range(start: int, count: int) -> int:
    # unified-diff convention: an empty range names the line before it
    return start + 1 if count else start


def _body(tag: str, lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        out.append(tag + _strip_eol(line))
        if not line.endswith("\n"):
            out.append(NO_NEWLINE)
    return out


def make_hunks(old_text: str, new_text: str, context: int = CONTEXT_LINES) -> tuple[Hunk, ...]:
    old, new = split_lines(old_text), split_lines(new_text)
    matcher = line_matcher(old, new)
    hunks: list[Hunk] = []
    for group in matcher.get_grouped_opcodes(context):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        body: list[str] = []
        added: list[str] = []
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                body += _body(" ", old[a1:a2])
                continue
            body += _body("-", old[a1:a2])
            body += _body("+", new[b1:b2])
            added += new[b1:b2]
        o_start, n_start = _range(i1, i2 - i1), _range(j1, j2 - j1)
        header = f"@@ -{o_start},{i2 - i1} +{n_start},{j2 - j1} @@"
        hunks.append(
            Hunk(len(hunks), header, o_start, i2 - i1, n_start, j2 - j1, tuple(body), tuple(added))
        )
    return tuple(hunks)


def format_diff(path: str, hunks: Sequence[Hunk], *, new_file: bool = False) -> str:
    if not hunks:
        return ""
    head = ["--- /dev/null" if new_file else f"--- a/{path}", f"+++ b/{path}"]
    for hunk in hunks:
        head.append(hunk.header)
        head.extend(hunk.lines)
    # Text not valid UTF-8 carries surrogate escapes; make the display text safe.
    return "\n".join(head).encode("utf-8", "replace").decode("utf-8") + "\n"


def count_changes(hunks: Iterable[Hunk]) -> tuple[int, int]:
    added = removed = 0
    for hunk in hunks:
        added += sum(1 for line in hunk.lines if line.startswith("+"))
        removed += sum(1 for line in hunk.lines if line.startswith("-"))
    return added, removed


def apply_hunks(old_text: str, hunks: Sequence[Hunk], selected: Iterable[int]) -> str:
    """``old_text`` with exactly the selected hunks (by index) applied."""
    chosen = set(selected)
    old = split_lines(old_text)
    out: list[str] = []
    pos = 0
    for hunk in sorted(hunks, key=lambda h: h.old_index):
        start = hunk.old_index
        if start < pos or start + hunk.old_count > len(old):
            raise ValueError(f"hunk {hunk.header} does not fit the text it is applied to")
        out += old[pos:start]
        pos = start + hunk.old_count
        if hunk.index in chosen:
            out += _new_side(old[start:pos], hunk)
        else:
            out += old[start:pos]
    out += old[pos:]
    return "".join(out)


def _new_side(old_span: list[str], hunk: Hunk) -> list[str]:
    """The hunk's new lines: context from the old text, additions verbatim."""
    result: list[str] = []
    old_iter = iter(old_span)
    added = iter(hunk.new_lines or _added_from_display(hunk.lines))
    for line in hunk.lines:
        tag = line[:1]
        if tag == " ":
            result.append(next(old_iter))
        elif tag == "-":
            next(old_iter)
        elif tag == "+":
            result.append(next(added))
    return result


def _added_from_display(lines: Sequence[str]) -> list[str]:
    """Rebuild added lines from display lines (for hunks built without new_lines)."""
    added: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("+"):
            last = i + 1 < len(lines) and lines[i + 1] == NO_NEWLINE
            added.append(line[1:] if last else line[1:] + "\n")
    return added


# -- edit_file matching -----------------------------------------------------


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def find_occurrences(text: str, needle: str) -> list[int]:
    """Start offsets of non-overlapping occurrences (the ones str.replace would hit)."""
    found: list[int] = []
    start = text.find(needle)
    while start != -1:
        found.append(start)
        start = text.find(needle, start + len(needle))
    return found


def replace_exact(text: str, old: str, new: str, *, replace_all: bool, path: str) -> str:
    """Apply edit_file's replacement or raise :class:`EditError` saying how to retry.

    Matching is on the text as the model sees it (LF endings: read_file never
    shows a "\\r"), and the result is conformed to the file's own line
    endings, BOM and final newline, so a one-line insertion into a CRLF file
    gets CRLF like its neighbours.
    """
    if old == "":
        raise EditError(
            "old_string is empty; copy the exact text to replace from the file "
            "(to create or overwrite a whole file use write_file)"
        )
    base, old_lf, new_lf = to_lf(text), to_lf(old), to_lf(new)
    if old_lf == new_lf:
        raise EditError("old_string and new_string are identical; nothing would change")
    hits = find_occurrences(base, old_lf)
    if not hits:
        raise EditError(no_match_message(base, old_lf, path))
    if len(hits) > 1 and not replace_all:
        lines = ", ".join(str(_line_of(base, h)) for h in hits[:20])
        more = f" and {len(hits) - 20} more" if len(hits) > 20 else ""
        raise EditError(
            f"old_string matches {len(hits)} times in {path} (starting at lines {lines}{more}); "
            "include more surrounding lines so it matches once, or set replace_all=true"
        )
    result = base.replace(old_lf, new_lf, -1 if replace_all else 1)
    return conform(text, result)


# A read_file line as copied with its prefix: the line number, then a tab.
_NUMBER_PREFIX = re.compile(r"^ *\d+\t", re.MULTILINE)
HINT_MAX_CHARS = 20_000  # longer old_strings get the plain message


def no_match_message(text: str, old: str, path: str) -> str:
    """The 0-match error, naming the usual cause when it can be seen."""
    plain = (
        f"old_string was not found in {path} (0 matches). Read the file again and copy "
        "the exact text, including whitespace and indentation."
    )
    if len(old) > HINT_MAX_CHARS:
        return plain
    return _prefix_hint(text, old, path) or _whitespace_hint(text, old, path) or plain


def _prefix_hint(text: str, old: str, path: str) -> str:
    lines = [line for line in old.split("\n") if line.strip()]
    numbered = sum(1 for line in lines if _NUMBER_PREFIX.match(line))
    if not lines or numbered < max(1, (len(lines) + 1) // 2):
        return ""
    first = _NUMBER_PREFIX.match(lines[0])
    example = repr(first.group(0)) if first else "'12\\t'"
    stripped = _NUMBER_PREFIX.sub("", old)
    count = len(find_occurrences(text, stripped)) if stripped else 0
    found = (
        f" Without those prefixes it matches {count} time{'s' if count != 1 else ''}."
        if count
        else ""
    )
    return (
        f"old_string was not found in {path} (0 matches): its lines start with a line "
        f"number and a tab (e.g. {example}) copied from read_file's output. Those numbers "
        f"are not part of the file; send only the text after the tab.{found}"
    )


def _whitespace_hint(text: str, old: str, path: str) -> str:
    parts = re.split(r"([ \t]+)", old)
    loose = "".join("[ \t]*" if i % 2 else re.escape(p) for i, p in enumerate(parts))
    match = re.search(loose, text)
    if match is None:
        return ""
    found = match.group(0)
    if "\t" in found and "\t" not in old:
        how = "the file has tabs where old_string has spaces"
    elif "\t" in old and "\t" not in found:
        how = "the file has spaces where old_string has tabs"
    else:
        how = "the spaces or tabs differ"
    return (
        f"old_string was not found in {path} (0 matches), but it matches at line "
        f"{_line_of(text, match.start())} when spaces and tabs are ignored: {how}. "
        "Copy the whitespace exactly as read_file shows it (a tab is one tab character)."
    )


# -- proposals and decisions ------------------------------------------------


def make_edit(
    workspace: Workspace,
    *,
    call_id: str,
    tool: str,
    path: str,
    new_text: str,
    old_string: str | None = None,
    new_string: str | None = None,
    replace_all: bool = False,
) -> ProposedEdit:
    """Diff ``new_text`` against the file now on disk. Raises SandboxError for protected paths."""
    resolved = workspace.check_writable(path)
    rel = workspace.relpath(resolved)
    old_text = workspace.read_text(rel)
    hunks = make_hunks(old_text or "", new_text)
    if old_text is None and not hunks:
        # A new empty file still needs one (empty) hunk so it can be approved.
        hunks = (Hunk(0, "@@ -0,0 +0,0 @@", 0, 0, 0, 0, ()),)
    added, removed = count_changes(hunks)
    return ProposedEdit(
        id=call_id,
        tool=tool,
        path=rel,
        old_text=old_text,
        new_text=new_text,
        hunks=hunks,
        diff=format_diff(rel, hunks, new_file=old_text is None),
        added=added,
        removed=removed,
        # edit_file's exact match already shows the model knows the text it replaces
        unread_overwrite=(
            tool == "write_file" and old_text is not None and rel not in workspace.read_paths
        ),
        old_string=old_string,
        new_string=new_string,
        replace_all=replace_all,
    )


def rebase_edit(workspace: Workspace, edit: ProposedEdit) -> ProposedEdit | None:
    """An edit_file proposal re-applied onto the file now on disk, when it still fits.

    None when the file is gone, the proposal is a write_file, or ``old_string``
    no longer matches exactly once (any number of times with ``replace_all``).
    """
    if edit.tool != "edit_file" or not edit.old_string or edit.new_string is None:
        return None
    current = workspace.read_text(edit.path)
    if current is None:
        return None
    try:
        new_text = replace_exact(
            current, edit.old_string, edit.new_string, replace_all=edit.replace_all, path=edit.path
        )
    except EditError:
        return None
    return _remake(workspace, edit, new_text)


def overwrite_edit(workspace: Workspace, edit: ProposedEdit) -> ProposedEdit:
    """The proposal's full new content, re-diffed against the file now on disk."""
    return _remake(workspace, edit, edit.new_text)


def _remake(workspace: Workspace, edit: ProposedEdit, new_text: str) -> ProposedEdit:
    return make_edit(
        workspace,
        call_id=edit.id,
        tool=edit.tool,
        path=edit.path,
        new_text=new_text,
        old_string=edit.old_string,
        new_string=edit.new_string,
        replace_all=edit.replace_all,
    )


def _feedback(decision: Decision) -> str:
    text = decision.feedback.strip()
    return f"\nUser feedback: {text}" if text else ""


def apply_decision(
    workspace: Workspace,
    edit: ProposedEdit,
    decision: Decision,
    *,
    max_chars: int = 16_000,
    on_write: WriteHook | None = None,
) -> str:
    """Write what ``decision`` says and return the tool result text for the model."""
    if decision.verdict == "rejected":
        return (
            f"The user rejected the {edit.tool} edit to {edit.path}; the file is unchanged."
            + _feedback(decision)
        )
    asked = edit
    edit = decision.against or edit
    final = _final_text(edit, decision)
    if final is None:
        return (
            f"The user rejected every hunk of the {edit.tool} edit to {edit.path}; "
            "the file is unchanged." + _feedback(decision)
        )
    try:
        current = workspace.read_text(edit.path)
    except (SandboxError, OSError) as exc:  # e.g. the path became a link leading out
        return f"The {edit.tool} edit to {edit.path} was NOT applied: {exc}"
    if current != edit.old_text:
        state = (
            "was deleted"
            if current is None
            else ("now exists" if edit.old_text is None else "was modified")
        )
        return (
            f"The {edit.tool} edit to {edit.path} was NOT applied: the file {state} on disk "
            "after the edit was proposed. Read the file again and propose the edit against "
            "its current content."
        )
    try:
        workspace.write_atomic(edit.path, final)
    except (SandboxError, OSError) as exc:
        return f"The {edit.tool} edit to {edit.path} was NOT applied: {exc}"
    workspace.read_paths.add(edit.path)  # the model knows what it wrote
    if on_write is not None:
        try:
            on_write(edit, current, final)
        except Exception:  # the journal must never undo a write the user approved
            log.exception("recording the applied edit failed")
    message = _conflict_note(asked, decision) + _applied_message(edit, decision, final)
    return cap_text(message, max_chars)


def _conflict_note(edit: ProposedEdit, decision: Decision) -> str:
    if decision.against is None:
        return ""
    how = {
        "reapplied": "your old_string still matched once, so the edit was re-applied onto "
        "the new content",
        "overwrite": "the user chose to overwrite those changes with your version",
    }.get(decision.conflict, "the user reviewed your edit against the new content")
    return f"{edit.path} changed on disk while your edit waited for review; {how}.\n"


def _final_text(edit: ProposedEdit, decision: Decision) -> str | None:
    """Text to write, or None when the decision leaves the file untouched."""
    if decision.content is not None:
        return decision.content
    if decision.verdict == "approved":
        return edit.new_text
    chosen = {i for i in decision.hunks if 0 <= i < len(edit.hunks)}
    if not chosen:
        return None
    if len(chosen) == len(edit.hunks):
        return edit.new_text
    return apply_hunks(edit.old_text or "", edit.hunks, chosen)


def _applied_message(edit: ProposedEdit, decision: Decision, final: str) -> str:
    added, removed = count_changes(make_hunks(edit.old_text or "", final))
    counts = f"(+{added} -{removed})"
    if decision.content is not None and final != edit.new_text:
        delta = format_diff(edit.path, make_hunks(edit.new_text, final))
        delta = delta.replace(f"--- a/{edit.path}", "--- your proposal", 1)
        delta = delta.replace(f"+++ b/{edit.path}", "+++ what was written", 1)
        return (
            f"Applied {edit.tool} to {edit.path} {counts}, but the user edited your proposal "
            "before applying it. Diff from your proposal to what was written:\n"
            + delta
            + _feedback(decision)
        )
    chosen = {i for i in decision.hunks if 0 <= i < len(edit.hunks)}
    if decision.verdict == "partial" and decision.content is None and len(chosen) < len(edit.hunks):
        applied = [h.header for h in edit.hunks if h.index in chosen]
        rejected = [h.header for h in edit.hunks if h.index not in chosen]
        return (
            f"Partially applied {edit.tool} to {edit.path} {counts}: the user approved "
            f"{len(applied)} of {len(edit.hunks)} hunks.\n"
            f"Applied hunks: {', '.join(applied)}\n"
            f"Rejected hunks (not applied): {', '.join(rejected)}\n"
            "Read the file before editing it again." + _feedback(decision)
        )
    return f"Applied {edit.tool} to {edit.path} {counts}." + _feedback(decision)
