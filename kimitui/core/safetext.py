"""Text bound for a terminal, made harmless: controls are shown, never emitted.

Everything kimitui shows comes from someone it should not trust blindly: the
model (prompt-injected), the files and file names of a cloned repository, the
server. A terminal obeys control characters wherever they appear, so an ESC in
a file name can set the clipboard (OSC 52) or the window title, and one in
model text can clear the screen. Every string on its way to a terminal (the
TUI's widgets, the headless printer, ``kimitui export``) passes through here:

- C0 controls (but newline and tab where the text may hold them), DEL and C1
  controls (0x80-0x9f: 0x9b is a one-byte CSI) are written as escapes
  (``\\x1b``), so the reader sees that they were there;
- bidirectional overrides, embeddings, isolates and marks (the "Trojan
  Source" characters, which make text read differently from what it is) are
  written as ``\\u202e``;
- lone surrogates, which is how a file name that is not valid UTF-8 arrives
  (``os.fsdecode`` uses surrogateescape), are written as the byte they stand
  for (``\\xff``), like Python's ``backslashreplace``, and others as
  ``\\udXXX``: they cannot be encoded, so writing them raw would crash.

Backslashes themselves are left alone (code would be unreadable otherwise), so
``\\x1b`` on screen may be an ESC or the four characters; both are harmless.

``json_safe`` does the same for JSON text: the escapes it writes are JSON
escapes, so the document still parses to exactly the same value.

This module imports nothing from Textual: the core and the headless front end
use it too.
"""

from __future__ import annotations

import re

# Bidi controls: ALM, LRM/RLM, the embeddings and overrides, the isolates.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# Everything shown escaped in multi-line text (newline and tab are kept).
_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff]")
# In one-line text (labels, cells, titles) newline and tab are escaped as well;
# the TUI's last-line filter looks for the same characters in rendered lines.
UNSAFE_IN_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff]")
# What json.dumps(ensure_ascii=False) leaves raw but a terminal or an encoder
# must not see; json.dumps already escapes C0 controls.
_UNSAFE_JSON = re.compile(f"[\x7f-\x9f{_BIDI}\ud800-\udfff]")

_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}

# Most text is ASCII, where a C loop over bytes finds the few unsafe ones many
# times faster than the regular expression (which is kept for the rest).
_PRINTABLE = bytes(range(0x20, 0x7F))
_PRINTABLE_NL_TAB = _PRINTABLE + b"\n\t"


def _needs_escaping(text: str, pattern: re.Pattern[str], allowed: bytes) -> bool:
    if text.isascii():
        return bool(text.encode("ascii").translate(None, allowed))
    return pattern.search(text) is not None


def _escape_char(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape's stand-in for the byte code - 0xDC00
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def _escape(match: re.Match[str]) -> str:
    return _escape_char(match.group())


def safe(text: str) -> str:
    """Multi-line text for a terminal: newlines and tabs kept, other controls escaped.

    A Windows line end (CR LF) becomes a newline; any other carriage return is
    escaped, since on a terminal it moves back and lets the rest of the line
    overwrite what was shown.
    """
    if not _needs_escaping(text, _UNSAFE, _PRINTABLE_NL_TAB):
        return text
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    return _UNSAFE.sub(_escape, text)


def safe_line(text: str) -> str:
    """One-line text for a terminal (a label, a cell, a title): newlines and tabs escaped too."""
    if not _needs_escaping(text, UNSAFE_IN_LINE, _PRINTABLE):
        return text
    return UNSAFE_IN_LINE.sub(_escape, text)


def is_safe(text: str) -> bool:
    """True if ``text`` may be written to a terminal as it is (newlines and tabs allowed)."""
    return not _needs_escaping(text, _UNSAFE, _PRINTABLE_NL_TAB)


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_safe(dumped: str) -> str:
    """JSON text from ``json.dumps(..., ensure_ascii=False)``, made safe to print and encode.

    Outside strings JSON text is plain ASCII, so every character matched here
    is inside a string, where a ``\\uXXXX`` escape stands for exactly that
    character: ``json.loads`` gives back the same value, lone surrogates
    included, and the text encodes to UTF-8 without error. (As with
    ``ensure_ascii=True``, a high and a low surrogate that stand next to each
    other read back as the one character they make: JSON cannot tell them apart.)
    """
    if dumped.isascii() and "\x7f" not in dumped:  # the one ASCII character json.dumps leaves
        return dumped
    if _UNSAFE_JSON.search(dumped) is None:
        return dumped
    return _UNSAFE_JSON.sub(_json_escape, dumped)
