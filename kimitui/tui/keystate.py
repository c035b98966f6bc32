"""The loop's state on screen (status bar, composer placeholder, footer), which
keys act in it, and where a key or a paste lands.
"""

from __future__ import annotations

import contextlib
import time

from textual import events
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import Input, TextArea

from kimitui.tui.help import HelpScreen
from kimitui.tui.host import AppHost
from kimitui.tui.review import ReviewScreen
from kimitui.tui.statusbar import StatusBar

ACTIVE = frozenset({"thinking", "tools", "review", "paused", "waiting", "retrying"})
INTERRUPTIBLE = frozenset({"thinking", "tools", "review", "retrying"})
PLACEHOLDERS = {
    "task": "What should the model do? (Enter starts)",
    "steer": "Message the model: delivered before its next step (Enter)",
    "waiting": "Interrupted: tell the model what to do instead (Enter), or ctrl+s to continue",
    "followup": "Follow-up task in the same conversation (Enter)",
    "budget": "Budget used up: ctrl+r raises it and continues",
}


class KeyState(AppHost):
    """One job of KimiApp (not an app of its own): state shown, keys allowed and routed."""

    def _display_state(self) -> str:
        if self.budget_out and not self.run_active:
            return "budget"
        if (
            self.loop_state in ACTIVE
            and self.agent.paused
            and self.loop_state not in ("paused", "waiting")
        ):
            return "pausing"
        return self.loop_state

    def _show_state(self) -> None:
        if self._shutting_down:
            return
        with contextlib.suppress(NoMatches):
            self.query_one(StatusBar).show(self._display_state(), self._step)
            self.composer.input.placeholder = PLACEHOLDERS[self._composer_mode()]
            self._refresh_bindings_if_changed()

    def _refresh_bindings_if_changed(self) -> None:
        """The footer follows the state, but redrawing it mounts a dozen widgets (the
        loop changes state several times a step): only when a key came or went."""
        actions = sorted(self._own_actions | self._gate_actions)
        shown = (self.screen, *(self.check_action(a, ()) for a in actions))
        if shown != self._bindings_shown:
            self._bindings_shown = shown
            self.refresh_bindings()

    def _composer_mode(self) -> str:
        if self.budget_out and not self.run_active:
            return "budget"
        if self.loop_state == "waiting":
            return "waiting"
        if self.is_active:
            return "steer"
        return "followup" if self._step else "task"

    @property
    def is_active(self) -> bool:
        return self.run_active or self.loop_state in ACTIVE

    def _tick(self) -> None:
        if self.is_active and self.loop_state not in ("paused", "waiting"):
            self.meter.show(self.agent.budget)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "help":  # F1 works on every screen but its own
            return not isinstance(self.screen, HelpScreen)
        if action in self._gate_actions:
            return self._gate_action_allowed(action)
        if isinstance(self.screen, ModalScreen) and action not in ("quit",):
            return action not in self._own_actions
        rules = {
            # Also before the first model call, while a run is starting; an edit
            # waiting behind the conversation is decided in the review, not by Esc.
            "interrupt": lambda: (
                not self._gate_behind
                and (
                    self.loop_state in INTERRUPTIBLE
                    or (self.run_active and self.loop_state not in ("paused", "waiting"))
                )
            ),
            "end_run": lambda: self.loop_state in ("paused", "waiting"),
            "pause": lambda: self.is_active and not self.agent.paused,
            "resume": lambda: self.is_active and self.agent.paused,
            "raise_budget": lambda: bool(self.budget_out) and not self.run_active,
            "cancel_pending": lambda: bool(self.agent.pending_messages),
            "recall_pending": lambda: bool(self.agent.pending_messages),
            # With a draft in the composer, ctrl+z undoes typing, never a file.
            "undo": lambda: self._can_undo() and not self._drafting(),
            "toggle_auto_approve": lambda: self.ask_gate is not None,
        }
        rule = rules.get(action)
        return True if rule is None else rule()

    _own_actions = frozenset(
        {
            "interrupt",
            "end_run",
            "pause",
            "resume",
            "raise_budget",
            "cancel_pending",
            "recall_pending",
            "toggle_steps",
            "undo",
            "find",
            "copy",
        }
    )
    _gate_actions = frozenset({"open_review", "look_behind", "focus_composer"})

    def _gate_action_allowed(self, action: str) -> bool:
        on_review = isinstance(self.screen, ReviewScreen)
        on_main = len(self.screen_stack) == 1
        if action == "look_behind":
            return on_review
        if action == "focus_composer":
            return on_review or (on_main and not self.composer.input.has_focus)
        gate = self.ask_gate
        return on_main and gate is not None and gate.current is not None

    # -- where a key lands ---------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded and not self._route_key(event):
            return
        if isinstance(event, events.Paste) and not event.is_forwarded and self._paste_aside():
            self.composer.input.post_message(events.Paste(event.text))
            return
        await super().on_event(event)

    def _paste_aside(self) -> bool:
        """A paste with no text box to take it goes to the composer, whole."""
        if len(self.screen_stack) == 1:
            return not isinstance(self.focused, TextArea | Input)
        screen = self.screen
        if isinstance(screen, ReviewScreen) and screen.first_hold and not screen.key_guard.armed:
            screen.go_behind()
            return True
        return False

    def _route_key(self, event: events.Key) -> bool:
        """False when the key was dealt with here: held by a screen that just opened
        by itself, or text typed on a pane that takes no text, moved to the composer."""
        screen = self.screen
        guard = getattr(screen, "key_guard", None)
        if guard is not None and not guard.allows(event.key, event.time):
            if event.is_printable and isinstance(screen, ReviewScreen) and screen.first_hold:
                # Typing went on as the review opened: it steps aside, the text stays text,
                # in the field it was typed in (the find bar) or else the composer.
                self._type_aside(event)
                screen.go_behind()
            return False
        if len(self.screen_stack) != 1 or not event.is_printable or event.key == "space":
            return True
        if isinstance(self.focused, TextArea | Input):
            return True
        self._type_into_composer(event)
        self.composer.input.focus()
        return False

    def _type_aside(self, event: events.Key) -> None:
        field = self.screen_stack[0].focused
        if isinstance(field, Input):
            field.insert_text_at_cursor(event.character or "")
        else:
            self._type_into_composer(event)

    def _type_into_composer(self, event: events.Key) -> None:
        box = self.composer.input
        box.last_key_at = time.monotonic()
        box.type_text(event.character or "")
