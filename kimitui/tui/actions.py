"""KimiApp's actions (keys, palette) and its answers to the widgets' messages."""

from __future__ import annotations

import asyncio

from textual import on
from textual.widgets import DirectoryTree, TextArea

from kimitui.config import config_path
from kimitui.core.transcript import SessionError
from kimitui.tui.clip import copy_from
from kimitui.tui.commands import export_session, raise_limit, run_slash, slash_command
from kimitui.tui.dialogs import WaitOrStopScreen
from kimitui.tui.findbar import FindBar
from kimitui.tui.help import HelpScreen
from kimitui.tui.host import AppHost
from kimitui.tui.mentions import PathIndex, attach_mentions, project_files
from kimitui.tui.messages import (
    ComposerSubmitted,
    FilesChanged,
    PathsWanted,
    PendingRecalled,
    ToolRowChosen,
    WatchProblem,
)
from kimitui.tui.preview import FilePreviewScreen
from kimitui.tui.textview import TextView
from kimitui.tui.toolpane import ToolDetailScreen


class AppActions(AppHost):
    """One job of KimiApp (not an app of its own): what keys and widgets ask for."""

    def action_interrupt(self) -> None:
        self.agent.interrupt()

    def action_end_run(self) -> None:
        self.agent.stop()

    def action_pause(self) -> None:
        self.agent.pause()
        self._show_state()

    def action_resume(self) -> None:
        self.agent.resume()
        self._show_state()

    def action_raise_budget(self, which: str = "") -> None:
        """Raise the budget that ran out (or ``which``), and continue a run it stopped."""
        stopped = bool(self.budget_out) and not self.run_active
        what = raise_limit(self.agent.budget, which or self.budget_out or "")
        if what is None:
            return
        self.meter.show(self.agent.budget)
        if stopped and (not which or which == self.budget_out):
            self._notice(f"{what}; continuing")
            self._start_run(None)
        else:
            self._notice(what)
        self.refresh_bindings()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_toggle_reasoning(self) -> None:
        pane = self.reasoning
        pane.display = not pane.display

    def action_export(self) -> None:
        path = self.transcript_path
        if path is None or not path.exists():
            self._notice("this session is not saved, so there is nothing to export", "warning")
            return
        try:
            target = export_session(path)
        except (OSError, SessionError) as err:
            self._notice(f"export failed: {err}", "warning")
            return
        self.copy_to_clipboard(str(target))
        self._notice(f"transcript exported to {target} (path copied to the clipboard)")

    def action_config_location(self) -> None:
        path = config_path()
        exists = "" if path.exists() else " (not created yet)"
        self.copy_to_clipboard(str(path))
        self._notice(f"config file: {path}{exists}; path copied to the clipboard")

    async def _confirm_wait(self, wait_s: float, reason: str) -> bool:
        """The engine asks before a long Retry-After wait: a modal with Wait / Stop."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def answered(wait: bool | None) -> None:
            if not future.done():
                future.set_result(bool(wait))

        self.push_screen(WaitOrStopScreen(wait_s, reason), answered)
        return await future

    def action_cancel_pending(self) -> None:
        pending = self.agent.pending_messages
        if pending and self.agent.cancel_pending(pending[-1]):
            self._notice(f"withdrawn before delivery: {pending[-1]}")
        self.composer.show_pending(self.agent.pending_messages)
        self.refresh_bindings()

    def action_recall_pending(self) -> None:
        self.composer.action_recall()

    def action_find(self) -> None:
        """ctrl+f: find in the thinking pane when it has the focus, else in the transcript."""
        bar = self.query_one(FindBar)
        if bar.is_open and bar.input.has_focus:
            return
        thinking = self.reasoning.has_focus
        view = self.reasoning if thinking else self.transcript
        bar.open(view, self.focused, "thinking pane" if thinking else "transcript")

    def action_copy(self) -> None:
        """F2: the mouse selection, else the chosen message of the pane (or the transcript)."""
        focused = self.focused
        copy_from(self, focused if isinstance(focused, TextView) else self.transcript)

    def action_toggle_steps(self) -> None:
        view = self.transcript
        any_collapsed = any(b.collapsed for b in view.blocks if b.collapsible)
        view.set_all_collapsed(not any_collapsed)

    # -- widget messages -------------------------------------------------------

    @on(ComposerSubmitted)
    def _submitted(self, message: ComposerSubmitted) -> None:
        command = slash_command(message.text)
        if command is not None:  # a command is never sent to the model, known or not
            if not run_slash(self, *command):
                self.composer.input.value = message.text  # to correct, not to retype
            self.refresh_bindings()
            return
        if self.budget_out and not self.run_active:
            self.composer.input.value = message.text
            self._notice(
                "the budget is used up: press ctrl+r to raise it, then send your message",
                "warning",
            )
        elif self.is_active:
            self.agent.steer(self._with_attachments(message.text))
            self.composer.show_pending(self.agent.pending_messages)
        else:
            self._start_run(self._with_attachments(message.text))
        if self._gate_behind:
            self._open_review(guarded=True)  # the message is out: now the edit waiting
        self.refresh_bindings()

    def _with_attachments(self, text: str) -> str:
        """The message as sent: "//" kept as "/", each @-mentioned file attached."""
        text = text[1:] if text.startswith("//") else text
        if "@" not in text:
            return text
        attached = attach_mentions(self.agent.toolbox.workspace, text)
        for level, note in attached.notes:
            self._notice(note, level)
        return attached.text

    @on(PathsWanted)
    def _paths_wanted(self) -> None:
        self.run_worker(self._list_paths(), group="mention-paths", exclusive=True)

    async def _list_paths(self) -> None:
        # A big tree takes a moment to walk: off the event loop.
        workspace = self.agent.toolbox.workspace
        paths = await asyncio.to_thread(lambda: PathIndex(project_files(workspace)))
        self.composer.set_paths(paths)

    @on(TextArea.Changed, "#composer-input")
    def _typing(self, message: TextArea.Changed) -> None:
        # A draft turns ctrl+z into typing undo and ↑ into a cursor key: the footer follows.
        self._refresh_bindings_if_changed()

    @on(PendingRecalled)
    def _recalled(self, message: PendingRecalled) -> None:
        if self.agent.cancel_pending(message.text):
            self.composer.input.value = message.text
        self.composer.show_pending(self.agent.pending_messages)
        self.refresh_bindings()

    @on(ToolRowChosen)
    def _tool_chosen(self, message: ToolRowChosen) -> None:
        record = self.tools.records.get(message.call_id)
        if record is not None:
            self.push_screen(ToolDetailScreen(record), self._back_to_composer)

    @on(DirectoryTree.FileSelected)
    def _file_chosen(self, message: DirectoryTree.FileSelected) -> None:
        rel = message.path.relative_to(self.project).as_posix()
        self.push_screen(FilePreviewScreen(message.path, rel), self._back_to_composer)

    def _back_to_composer(self, _: object = None) -> None:
        """A closed detail view hands the keys back to the composer, not to the pane
        it was opened from (where typed text would be lost)."""
        self.call_after_refresh(self.composer.input.focus)

    @on(TextView.BlockClicked, "#transcript")
    def _block_clicked(self, message: TextView.BlockClicked) -> None:
        message.view.toggle(message.index)

    @on(FilesChanged)
    def _files_changed(self, message: FilesChanged) -> None:
        for rel in message.outside:
            self.project_tree.mark(rel, "outside")
        if message.structure or message.outside:
            self.project_tree.reload()
        if message.structure:
            self.composer.paths_stale()  # listed again at the next @

    @on(WatchProblem)
    def _watch_problem(self, message: WatchProblem) -> None:
        self._notice(message.text, "warning")
