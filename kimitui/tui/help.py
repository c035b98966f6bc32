"""The help screen: every key, grouped by where it applies (F1 opens it)."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from kimitui.tui.commands import COMMANDS

KeyGroup = tuple[str, tuple[tuple[str, str], ...]]

KEY_GROUPS: tuple[KeyGroup, ...] = (
    (
        "Main screen",
        (
            (
                "Enter",
                "send: the task, a steering message (delivered before the next step), "
                "or a follow-up",
            ),
            ("shift+Enter / ctrl+j", "a new line in the message"),
            (
                "Esc",
                "interrupt the stream (partial text kept); when paused or interrupted: end the "
                "run; otherwise back to the composer",
            ),
            ("ctrl+s", "pause before the next model call / resume"),
            ("ctrl+r", "raise the budget that ran out and continue"),
            ("ctrl+z", "undo the last step: its edits and commands (asks about your own changes)"),
            ("ctrl+t", "auto-approve edits on/off (with --approve ask)"),
            ("ctrl+g", "open the edit waiting for review / back to the conversation"),
            ("ctrl+l", "to the composer, from anywhere"),
            ("ctrl+o", "expand / collapse the earlier steps in the transcript"),
            ("ctrl+x", "withdraw the last pending message"),
            ("↑", "edit the last pending message (empty composer)"),
            ("Tab / shift+Tab", "move the focus: tree, thinking, tool calls, transcript, composer"),
            ("any letter", "typed on another pane, it goes to the composer: letters never act"),
            ("Enter (tree, tool row)", "preview the file / show the full call and result"),
            ("ctrl+f", "find in the transcript (in the thinking pane when it has the focus)"),
            (
                "F2",
                "copy the mouse selection, else the clicked or found message "
                "(no labels, no borders; ctrl+v pastes it here)",
            ),
            ("F1", "this help"),
            ("ctrl+p", "command palette: theme, export, budgets, thinking pane, config…"),
            (
                "ctrl+q",
                "quit (asks first while an edit waits); prints files changed, tokens, "
                "cost and how to resume",
            ),
        ),
    ),
    (
        "Find bar (ctrl+f)",
        (
            ("Enter / ↓ / F3", "next match"),
            ("shift+Enter / ↑ / shift+F3", "previous match"),
            ("", "all lowercase ignores case; a capital letter matches case exactly"),
            ("Esc", "close; the focus goes back where it was"),
        ),
    ),
    (
        "Review (a proposed edit)",
        (
            ("j / ↓   k / ↑", "next / previous hunk"),
            ("space", "include or leave out the hunk under the cursor"),
            ("y", "apply the selected hunks"),
            ("n", "reject (type feedback for the model, Enter sends)"),
            ("a", "apply this and every further edit of this turn"),
            ("e", "edit the proposal before applying it (ctrl+s applies, Esc returns)"),
            ("s", "unified / side-by-side diff"),
            ("o", "overwrite a file that changed on disk (after a conflict)"),
            ("ctrl+g", "look behind: thinking, transcript, tree (the edit keeps waiting)"),
            ("Esc", "close the feedback line"),
            ("", "keys typed in the first moment after a review opens are ignored"),
            ("F1", "this help"),
        ),
    ),
    (
        "Composer (the message box)",
        (
            ("ctrl+a / ctrl+e", "start / end of the line"),
            ("ctrl+w / ctrl+u / ctrl+k", "delete a word / to the start / to the end"),
            ("ctrl+v / ctrl+c", "paste / copy the selection"),
            ("paste", "kept whole; a long one shows as [pasted N lines] and is sent whole"),
            ("@path", "attach a project file (completion list: ↑/↓ move, Tab/Enter take, Esc)"),
            ("/", "at the start: a command (list below); // sends a message starting with /"),
        ),
    ),
    ("Slash commands (also in the palette, ctrl+p)", tuple((c.usage, c.help) for c in COMMANDS)),
)


def group_table(title: str, keys: tuple[tuple[str, str], ...]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.title = Text(title, style="bold")
    table.title_justify = "left"
    table.add_column(style="bold", no_wrap=True)
    table.add_column(ratio=1)
    for key, meaning in keys:
        table.add_row(Text(key), Text(meaning))  # plain: "[pasted N lines]" is no markup
    return table


class HelpScreen(ModalScreen[None]):
    """Every key kimitui knows, by group."""

    BINDINGS: ClassVar = [Binding("escape,q,f1", "dismiss", "close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Static(" kimitui keys  ·  Esc closes", id="help-title", markup=False)
            with VerticalScroll(id="help-body"):
                for title, keys in KEY_GROUPS:
                    yield Static(group_table(title, keys), classes="help-group")
