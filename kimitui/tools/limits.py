"""Size limits for what tools return: every byte fed to the model costs tokens."""

from __future__ import annotations

DEFAULT_MAX_OUTPUT_CHARS = 16_000


SUMMARY_MAX_CHARS = 600  # a closing "[...]" line this short is a tool's summary


def cap_text(text: str, limit: int = DEFAULT_MAX_OUTPUT_CHARS) -> str:
    """Keep the head of ``text`` within ``limit`` chars, with a note saying what was cut.

    A last line in brackets is the tool's own summary ("[1000 of 40000 files
    shown; ...]"): it survives the cut, after the note, so the model still
    learns the totals and how to narrow the request.
    """
    if len(text) <= limit:
        return text
    head, _, last = text.rpartition("\n")
    summary = ""
    if head and last.startswith("[") and last.endswith("]") and len(last) <= SUMMARY_MAX_CHARS:
        text, summary = head, "\n" + last
    note = f"\n[output cut: {{cut}} of {len(text)} characters not shown; limit is {limit}]"
    keep = max(0, limit - len(note.format(cut=len(text))) - len(summary))
    # Cut at a line end when one is near, so the model never sees half a line.
    newline = text.rfind("\n", 0, keep)
    if newline >= keep * 0.8:
        keep = newline
    return text[:keep] + note.format(cut=len(text) - keep) + summary


def tail_text(text: str, limit: int) -> tuple[str, int]:
    """The last ``limit`` chars of ``text`` and how many were dropped before them."""
    if len(text) <= limit:
        return text, 0
    return text[-limit:], len(text) - limit
