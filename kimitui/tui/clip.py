"""Copy from the transcript: the mouse selection, else the chosen message.

Text goes out through ``App.copy_to_clipboard``: Textual keeps it as the app's
own clipboard (ctrl+v in the composer pastes it, whatever the terminal does)
and writes it to the terminal as OSC 52, which most terminals put on the
system clipboard; some ignore it (macOS Terminal; tmux unless set-clipboard is
on), and the notice says so where the environment tells. The copied text is
the text as written (soft wraps joined), without labels, borders or padding;
the payload is base64, so nothing in it can act on the terminal.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from textual.app import App

from kimitui.tui.textview import Block, TextView

MESSAGE_MARK = "▸ "  # labelled messages ("you ▸ ", "kimi ▸ ") end their label with it


@dataclass(frozen=True)
class Copied:
    text: str
    what: str  # "the selection", "the message"


def size_of(text: str) -> str:
    lines = text.count("\n") + 1
    return f"{lines} line{'s' if lines != 1 else ''}, {len(text):,} characters"


def clipboard_doubt(env: Mapping[str, str]) -> str:
    """Why the system clipboard may not have it, when the environment tells."""
    if env.get("TERM_PROGRAM") == "Apple_Terminal":
        return "macOS Terminal ignores OSC 52, so only kimitui has it (ctrl+v pastes it here)"
    if env.get("TMUX"):
        return "inside tmux the system clipboard needs `set -g set-clipboard on`"
    return ""


def message_block(view: TextView) -> Block | None:
    """The chosen block (clicked or found), else the newest labelled message."""
    if view.chosen is not None and view.chosen < len(view.blocks):
        return view.blocks[view.chosen]
    for block in reversed(view.blocks):
        if block.prefix.endswith(MESSAGE_MARK) and block.text.strip():
            return block
    return None


def what_to_copy(app: App[object], view: TextView) -> Copied | None:
    selected = app.screen.get_selected_text()
    if selected:
        return Copied(selected, "the selection")
    block = message_block(view)
    if block is None or not block.text:
        return None
    label = block.prefix.removesuffix(MESSAGE_MARK).strip()
    labelled = block.prefix.endswith(MESSAGE_MARK) and label
    return Copied(block.text, f"the message from {label}" if labelled else "the message")


def copy_from(app: App[object], view: TextView, env: Mapping[str, str] | None = None) -> str:
    """Copy the selection or the chosen message of ``view``; say what was copied."""
    copied = what_to_copy(app, view)
    if copied is None:
        notice = "nothing to copy: select text with the mouse, or click a message first"
        app.notify(notice, severity="warning", markup=False)
        return notice
    app.copy_to_clipboard(copied.text)
    doubt = clipboard_doubt(os.environ if env is None else env)
    notice = f"copied {copied.what} ({size_of(copied.text)})"
    notice += f"; {doubt}" if doubt else ""
    app.notify(notice, markup=False)
    return notice
