"""A file's text conventions (line endings, BOM, final newline), kept on every write.

The model reads text, not bytes: read_file shows lines without their "\\r"
and without a BOM, so what the model writes back is LF text. Before a
proposal is diffed, :func:`conform` gives that text the file's own
conventions, so the diff the user reviews is exactly the change the bytes
on disk will see: a CRLF file stays CRLF, a mixed file keeps each untouched
line's ending, a BOM stays, and a final newline (or its lack) stays.
"""

from __future__ import annotations

from dataclasses import dataclass

from kimitui.tools.linediff import line_matcher

BOM = "\ufeff"
CRLF = "\r\n"
LF = "\n"


@dataclass(frozen=True)
class Style:
    """How a file's text is laid out; counts are of line endings."""

    crlf: int
    lf: int  # bare "\n", not preceded by "\r"
    bom: bool
    final_newline: bool | None  # None: the file has no text at all

    @property
    def eol(self) -> str:
        """The ending new lines get: the file's majority (LF on a tie or none)."""
        return CRLF if self.crlf > self.lf else LF

    @property
    def mixed(self) -> bool:
        return bool(self.crlf and self.lf)

    def describe(self) -> str:
        """What read_file's header says ("" for plain LF text with a final newline)."""
        parts = []
        if self.mixed:
            parts.append(f"mixed line endings ({self.crlf:,} CRLF, {self.lf:,} LF)")
        elif self.crlf:
            parts.append("CRLF line endings")
        if self.bom:
            parts.append("UTF-8 BOM")
        if self.final_newline is False:
            parts.append("no final newline")
        if not parts:
            return ""
        return "; ".join(parts) + " (edits keep them)"


def detect(text: str) -> Style:
    crlf = text.count(CRLF)
    bom = text.startswith(BOM)
    body = text[1:] if bom else text
    return Style(crlf, text.count(LF) - crlf, bom, body.endswith(LF) if body else None)


def to_lf(text: str) -> str:
    return text.replace(CRLF, LF)


def split_keep(text: str) -> list[str]:
    """Lines split on "\\n" only, endings kept."""
    parts = text.split(LF)
    lines = [p + LF for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def conform(old_text: str | None, new_text: str) -> str:
    """``new_text`` (as the model wrote it) in the conventions of ``old_text``.

    A new file (``old_text`` None) is written as given. An existing empty
    file has no conventions to keep beyond its lack of a BOM.
    """
    if old_text is None:
        return new_text
    style = detect(old_text)
    if not (style.crlf or style.lf):
        # No line break to learn a convention from: the model's own breaks stand.
        body = new_text.removeprefix(BOM)
        if body and style.final_newline is False and body.endswith(LF):
            body = body[: -len(CRLF) if body.endswith(CRLF) else -1]
        return (BOM if style.bom else "") + body
    body = to_lf(new_text).removeprefix(BOM)
    if body and style.final_newline is True and not body.endswith(LF):
        body += LF
    elif body and style.final_newline is False and body.endswith(LF):
        body = body[:-1]
    if style.mixed:
        body = _keep_each_ending(old_text.removeprefix(BOM), body, style.eol)
    elif style.eol == CRLF:
        body = body.replace(LF, CRLF)
    return (BOM if style.bom else "") + body


def _keep_each_ending(old_body: str, new_lf: str, eol: str) -> str:
    """Lines the new text shares with the old keep their own ending; new ones get ``eol``."""
    old_lines = split_keep(old_body)
    new_lines = split_keep(new_lf)
    matcher = line_matcher([to_lf(line) for line in old_lines], new_lines)
    out: list[str] = []
    for tag, a1, a2, b1, b2 in matcher.get_opcodes():
        if tag == "equal":
            out += old_lines[a1:a2]
        else:
            out += [line[:-1] + eol if line.endswith(LF) else line for line in new_lines[b1:b2]]
    return "".join(out)
