"""The composer: the task, steering messages, follow-ups; pending ones above it.

A multi-line box: Enter sends, shift+Enter or ctrl+j starts a new line. A paste
arrives whole (bracketed paste); a large one is folded to one token such as
``[pasted 120 lines]`` in the box and expanded again when the message is sent.
Typing ``@`` or a leading ``/`` opens a completion list of project files or
commands above the box (↑/↓ move, Tab or Enter take one, Esc closes it).
"""

from __future__ import annotations

import time
from typing import ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static, TextArea

from kimitui.tui.completion import (
    Choice,
    CommandInfo,
    CompletionList,
    Context,
    Location,
    command_choices,
    context_at,
    path_choices,
)
from kimitui.tui.mentions import PathIndex
from kimitui.tui.messages import ComposerSubmitted, PathsWanted, PendingRecalled

FOLD_LINES = 8  # pastes with more lines than this are folded to a token
FOLD_CHARS = 1_500  # ... and so are long single-line ones
NEWLINE_KEYS = frozenset({"shift+enter", "ctrl+j", "newline"})
PATHS_STALE_S = 5.0  # a file list older than this is listed again at the next mention


def line_count(text: str) -> int:
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def fold_label(text: str) -> str:
    lines = line_count(text)
    if lines > 1:
        return f"[pasted {lines} lines]"
    return f"[pasted {len(text):,} characters]"


def brief(message: str, width: int = 60) -> str:
    """One line for a pending message: its first line, cut, and how many more there are."""
    first = message.split("\n", 1)[0]
    text = first if len(first) <= width else first[: width - 1] + "…"
    more = line_count(message) - 1
    return f"{text} (+{more} more lines)" if more > 0 else text


class ComposerInput(TextArea):
    """The message box. It keeps every printable key: the main screen has no
    single-letter shortcuts, and letters typed on another pane land here."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            id=id,
            soft_wrap=True,
            tab_behavior="focus",
            show_line_numbers=False,
            highlight_cursor_line=False,
            compact=True,
        )
        self.folds: dict[str, str] = {}  # token shown in the box -> the pasted text
        self.last_key_at = float("-inf")  # monotonic time of the last key typed here

    # -- the text ------------------------------------------------------------

    @property
    def value(self) -> str:
        """The text as the box shows it (folded pastes as their tokens)."""
        return self.text

    @value.setter
    def value(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)

    def message(self) -> str:
        """The text to send: every folded paste still in the box expanded again."""
        text = self.text
        for token, pasted in self.folds.items():
            text = text.replace(token, pasted)
        return text

    def clear_message(self) -> None:
        self.folds.clear()
        self.value = ""

    # -- keys and paste --------------------------------------------------------

    async def _on_key(self, event: events.Key) -> None:
        self.last_key_at = time.monotonic()
        composer = self.parent
        if isinstance(composer, Composer) and composer.completion_key(event.key):
            event.stop()
            event.prevent_default()
            return
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.submit()
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.type_text("\n")
        # Any other key: Textual goes on to TextArea's own handler (it walks the MRO).

    async def _on_paste(self, event: events.Paste) -> None:
        event.stop()
        event.prevent_default()
        self.last_key_at = time.monotonic()
        text = event.text.replace("\r\n", "\n").replace("\r", "\n")
        if line_count(text) > FOLD_LINES or len(text) > FOLD_CHARS:
            text = self._fold(text)
        self.type_text(text)
        self.focus()

    def type_text(self, text: str) -> None:
        """Put ``text`` where the cursor is, over any selection, as typing would."""
        self.replace(text, *self.selection, maintain_selection_offset=False)

    def _fold(self, text: str) -> str:
        label = fold_label(text)
        token, n = label, 1
        while token in self.folds and self.folds[token] != text:
            n += 1
            token = f"{label[:-1]} #{n}]"
        self.folds[token] = text
        return token

    def submit(self) -> None:
        text = self.message().strip()
        if text:
            self.clear_message()
            self.post_message(ComposerSubmitted(text))

    def action_cursor_up(self, select: bool = False) -> None:
        # On an empty box, ↑ takes back the last pending message to edit it.
        composer = self.parent
        if not self.text and not select and isinstance(composer, Composer) and composer.pending:
            composer.action_recall()
            return
        super().action_cursor_up(select)


class Composer(Vertical):
    """Shows undelivered messages and a waiting review; takes new messages."""

    BINDINGS: ClassVar = [Binding("up", "recall", "edit pending", show=False)]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.pending: list[str] = []
        self.commands: list[CommandInfo] = []
        self.paths = PathIndex([])  # the App lists the files when a mention starts
        self.listed_at = float("-inf")
        self._paths_asked = False
        self._completing: Context | None = None  # the token the open list completes
        self._dismissed: Location | None = None  # where the token Esc closed starts

    def compose(self) -> ComposeResult:
        yield Static(id="gate-waiting", markup=False)
        yield Static(id="pending", markup=False)
        yield CompletionList(id="completion")
        yield ComposerInput(id="composer-input")

    def on_mount(self) -> None:
        self.query_one("#gate-waiting").display = False

    @property
    def input(self) -> ComposerInput:
        return self.query_one(ComposerInput)

    def show_pending(self, pending: list[str]) -> None:
        self.pending = list(pending)
        label = self.query_one("#pending", Static)
        label.display = bool(pending)
        if pending:
            shown = " · ".join(f"“{brief(p)}”" for p in pending)
            label.update(f"pending: {shown}  (↑ edit, ctrl+x cancel)")

    def show_gate(self, text: str) -> None:
        """A line saying an edit waits for review behind the conversation ("" hides it)."""
        line = self.query_one("#gate-waiting", Static)
        line.display = bool(text)
        line.update(text)

    @on(TextArea.Changed, "#composer-input")
    def _changed(self, event: TextArea.Changed) -> None:
        # Folded pastes whose token was deleted are dropped, not sent later.
        box = self.input
        for token in [t for t in box.folds if t not in box.text]:
            del box.folds[token]
        self.update_completion()

    # -- completion ------------------------------------------------------------

    @property
    def completion(self) -> CompletionList:
        return self.query_one(CompletionList)

    def set_paths(self, paths: PathIndex) -> None:
        """The project's files a mention may name (listed by the App, off the loop)."""
        self.paths = paths
        self.listed_at = time.monotonic()
        self._paths_asked = False
        if self._completing is not None and self._completing.kind == "@":
            self._completing = None
            self.update_completion()

    def paths_stale(self) -> None:
        """The tree changed: the next mention lists the files again."""
        self.listed_at = float("-inf")

    @on(TextArea.SelectionChanged, "#composer-input")
    def _cursor_moved(self, event: TextArea.SelectionChanged) -> None:
        self.update_completion()

    def update_completion(self) -> None:
        """Open, refresh or close the list for the token before the cursor."""
        box = self.input
        row, column = box.cursor_location
        context = None
        if box.selection.is_empty:
            context = context_at(box.document.get_line(row), row, column)
        if context is None or context.start == self._dismissed:
            self._dismissed = self._dismissed if context is not None else None
            self._completing = None
            self.completion.hide()
            return
        if context == self._completing:
            return  # the cursor event after the text event: nothing new
        before, self._completing = self._completing, context
        if before is None or before.start != context.start:
            self._list_paths_if_stale(context)
        self.completion.show(self._choices(context))

    def _list_paths_if_stale(self, context: Context) -> None:
        """A new mention asks for the file list when there is none or it is old;
        the old one is used meanwhile."""
        stale = time.monotonic() - self.listed_at > PATHS_STALE_S
        if context.kind == "@" and stale and not self._paths_asked:
            self._paths_asked = True
            self.post_message(PathsWanted())

    def _choices(self, context: Context) -> list[Choice]:
        if context.kind == "/":
            return command_choices(context.query, self.commands)
        return path_choices(context.query, self.paths)

    def completion_key(self, key: str) -> bool:
        """Keys the open list takes from the box: ↑/↓, Tab, Enter, Esc."""
        menu = self.completion
        if not menu.is_open or self._completing is None:
            return False
        if key in ("up", "down"):
            menu.move(-1 if key == "up" else 1)
        elif key == "escape":
            self._dismissed = self._completing.start
            menu.hide()
        elif key in ("tab", "enter"):
            self._accept(send=key == "enter")
        else:
            return False
        return True

    def _accept(self, *, send: bool) -> None:
        choice, context = self.completion.current, self._completing
        if choice is None or context is None:
            return
        box = self.input
        box.replace(choice.value, context.start, context.end, maintain_selection_offset=False)
        self.completion.hide()
        self._completing = None
        if send and choice.submit:
            box.submit()  # a command that needs nothing more runs at once

    def action_recall(self) -> None:
        if self.pending and not self.input.text:
            self.post_message(PendingRecalled(self.pending[-1]))
