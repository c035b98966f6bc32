"""Size limits for what tools return: every byte fed to the model costs tokens."""

from __future__ import annotations

DEFAULT_MAX_OUTPUT_CHARS = 16_000


def cap_text(text: str, limit: int = DEFAULT_MAX_OUTPUT_CHARS) -> str:
    """Keep the head of ``text`` within ``limit`` chars, with a note saying what was cut."""
    if len(text) <= limit:
        return text
    note = f"\n[output cut: {{cut}} of {len(text)} characters not shown; limit is {limit}]"
    keep = max(0, limit - len(note.format(cut=len(text))))
    # Cut at a line end when one is near, so the model never sees half a line.
    newline = text.rfind("\n", 0, keep)
    if newline >= keep * 0.8:
        keep = newline
    return text[:keep] + note.format(cut=len(text) - keep)


def tail_text(text: str, limit: int) -> tuple[str, int]:
    """The last ``limit`` chars of ``text`` and how many were dropped before them."""
    if len(text) <= limit:
        return text, 0
    return text[-limit:], len(text) - limit
