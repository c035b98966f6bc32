"""The approval gate, asked through the editor: ``session/request_permission``.

:class:`AcpGate` is the engine's :class:`~kimitui.core.gate.AskGate`: the loop
parks each edit, unconfined run, MCP call and commit on it exactly as under
the TUI. Here a listener turns every newly parked question into a permission
request (allow once / allow always / reject), and the answer is applied
with the AskGate's own ``decide*`` methods. A question withdrawn by the loop
(the prompt was cancelled) cancels its request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acp import text_block, tool_content, tool_diff_content, update_tool_call
from acp.helpers import update_current_mode
from acp.schema import PermissionOption, ToolCallLocation, ToolCallUpdate

from kimitui.core.gate import AskGate, CommitReview, McpRequest, McpReview, Review, RunReview
from kimitui.tools.confine import RunRequest
from kimitui.tools.edits import Decision, ProposedEdit, rebase_edit
from kimitui.tools.git import CommitRequest
from kimitui.tools.workspace import SandboxError, Workspace

log = logging.getLogger(__name__)

ONCE, ALWAYS, REJECT = "allow_once", "allow_always", "reject_once"
# What the model reads when the user says no in the editor.
EDIT_REJECTED = "rejected in the editor"
RUN_REFUSED = "The user declined to run this in the editor."
MCP_REFUSED = "The user declined this MCP call in the editor."
COMMIT_REFUSED = "The user declined this commit in the editor."

# (tool call shown, options) -> the option chosen, None when the request was cancelled
Ask = Callable[[ToolCallUpdate, list[PermissionOption]], Awaitable[str | None]]


def option(kind: str, name: str) -> PermissionOption:
    # The option id is its kind: one of each per request, and the answer reads plainly.
    return PermissionOption(option_id=kind, name=name, kind=kind)  # type: ignore[arg-type]


@dataclass
class _Asking:
    item: Any  # the parked question (kept so its id() is not reused)
    task: asyncio.Task[None]


class AcpGate(AskGate):
    """An AskGate whose front end is the ACP client."""

    def __init__(self, project: Path, redact: Callable[[str], str] = str) -> None:
        super().__init__()
        self.project = project
        self.redact = redact
        self.ask: Ask | None = None  # set once the session knows its client
        self.show: Callable[[Any], None] = lambda update: None  # an update, before asking
        self.flush: Callable[[], Awaitable[None]] = _nothing
        self.allow_prefix: Callable[[tuple[str, ...]], None] | None = None
        self.workspace: Workspace | None = None  # to re-check a file before applying
        self._asking: dict[int, _Asking] = {}
        self._shown: set[str] = set()
        self._always_runs: set[str] = set()  # tools ("run_tests") allowed unconfined
        self._always_mcp: set[tuple[str, str]] = set()
        self.subscribe(self._sync)

    # -- "allow always" short-cuts ----------------------------------------------

    async def review_run(self, request: RunRequest) -> str | None:
        if request.tool != "run_command" and request.tool in self._always_runs:
            return None
        return await super().review_run(request)

    async def review_mcp(self, request: McpRequest) -> str | None:
        if (request.server, request.tool) in self._always_mcp:
            return None
        return await super().review_mcp(request)

    # -- parked questions -> permission requests --------------------------------

    def _sync(self) -> None:
        """Called on every change of the parked lists: ask the new, drop the withdrawn."""
        for review in self.turn_reviews:
            if review.edit.id not in self._shown:
                self._shown.add(review.edit.id)
                self.show(self._diff_update(review.edit))
        waiting: list[Any] = [*self.pending, *self.run_reviews, *self.mcp_reviews]
        waiting += self.commit_reviews
        # Answered but not yet taken off its list by the loop: never asked twice.
        waiting = [item for item in waiting if item.future is None or not item.future.done()]
        alive = {id(item) for item in waiting}
        current = asyncio.current_task()
        for key, asking in list(self._asking.items()):
            if key not in alive and asking.task is not current:
                asking.task.cancel()
                del self._asking[key]
        for item in waiting:
            if id(item) not in self._asking and self.ask is not None:
                task = asyncio.get_running_loop().create_task(self._question(item))
                self._asking[id(item)] = _Asking(item, task)

    async def _question(self, item: Any) -> None:
        try:
            await self.flush()  # the tool call and its diff are on the wire first
            match item:
                case Review():
                    await self._ask_edit(item.edit)
                case RunReview():
                    await self._ask_run(item.request)
                case McpReview():
                    await self._ask_mcp(item.request)
                case CommitReview():
                    await self._ask_commit(item.request)
        except asyncio.CancelledError:
            raise
        except Exception:  # never leave the loop waiting on a question nobody asks
            log.exception("a permission request failed; refusing")
            self._refuse(item)
        finally:
            self._asking.pop(id(item), None)

    def _refuse(self, item: Any) -> None:
        match item:
            case Review():
                self.decide(item.edit.id, Decision.reject(EDIT_REJECTED))
            case RunReview():
                self.decide_run(item.request.call_id, RUN_REFUSED)
            case McpReview():
                self.decide_mcp(item.request.call_id, MCP_REFUSED)
            case CommitReview():
                self.decide_commit(item.request.call_id, COMMIT_REFUSED)

    async def _choose(self, call: ToolCallUpdate, options: list[PermissionOption]) -> str:
        assert self.ask is not None
        return await self.ask(call, options) or REJECT  # cancelled by the client: a no

    # -- edits ----------------------------------------------------------------

    def _where(self, edit: ProposedEdit) -> list[ToolCallLocation]:
        line = edit.hunks[0].new_start if edit.hunks else None
        return [ToolCallLocation(path=str(self.project / edit.path), line=line)]

    def _diff_update(self, edit: ProposedEdit) -> Any:
        return update_tool_call(
            edit.id, status="pending", content=self._diff(edit), locations=self._where(edit)
        )

    def _diff(self, edit: ProposedEdit) -> list[Any]:
        old = None if edit.old_text is None else self.redact(edit.old_text)
        path = str(self.project / edit.path)
        return [tool_diff_content(path, self.redact(edit.new_text), old)]

    async def _ask_edit(self, edit: ProposedEdit) -> None:
        what = "Create" if edit.is_new_file else "Edit"
        call = ToolCallUpdate(
            tool_call_id=edit.id,
            title=f"{what} {edit.path} (+{edit.added} -{edit.removed})",
            kind="edit",
            status="pending",
            content=self._diff(edit),
            locations=self._where(edit),
        )
        options = [
            option(ONCE, "Apply"),
            option(ALWAYS, "Apply all edits this session"),
            option(REJECT, "Reject"),
        ]
        answer = await self._choose(call, options)
        if answer == REJECT:
            self.decide(edit.id, Decision.reject(EDIT_REJECTED))
            return
        if answer == ALWAYS:
            self.set_auto(True)
            self.show(update_current_mode("auto"))  # the editor's mode picker follows
        self.decide(edit.id, self._approval(edit))

    def _approval(self, edit: ProposedEdit) -> Decision:
        """All of ``edit``; re-applied onto the file if the user changed it meanwhile.

        The editor is open on the project while the question waits. An edit_file
        whose old_string still matches once is re-made on the new content (and
        shown again); anything else is refused when written, and the model told
        to read the file again (``apply_decision``).
        """
        if self.workspace is None:
            return Decision.approve_all(edit)
        try:
            if self.workspace.read_text(edit.path) == edit.old_text:
                return Decision.approve_all(edit)
            rebased = rebase_edit(self.workspace, edit)
        except (SandboxError, OSError):
            return Decision.approve_all(edit)  # the write says what is wrong
        if rebased is None:
            return Decision.approve_all(edit)
        self.show(self._diff_update(rebased))
        return Decision.approve_all(rebased).on(rebased, "reapplied")

    # -- runs, MCP calls, commits -------------------------------------------

    async def _ask_run(self, request: RunRequest) -> None:
        line = request.line or " ".join(request.command)
        facts = [f"$ {line}", f"in {request.cwd}", f"sandbox: {request.sandbox}"]
        facts += [f"! {flag}" for flag in request.flags]
        facts += [f"asked because {why}" for why in request.why_asked]
        call = ToolCallUpdate(
            tool_call_id=request.call_id,
            title=f"Run {line}",
            kind="execute",
            status="pending",
            content=[tool_content(text_block(self.redact("\n".join(facts))))],
            raw_input={"command": line},
        )
        always = self._run_always_option(request)
        options = [option(ONCE, "Run"), *always, option(REJECT, "Don't run")]
        answer = await self._choose(call, options)
        if answer == REJECT:
            self.decide_run(request.call_id, RUN_REFUSED)
            return
        if answer == ALWAYS:
            self._remember_run(request)
        self.decide_run(request.call_id, None)

    def _run_always_option(self, request: RunRequest) -> list[PermissionOption]:
        if request.tool == "run_command":
            if not request.prefix or self.allow_prefix is None:
                return []
            return [option(ALWAYS, f"Always allow `{' '.join(request.prefix)}` (this session)")]
        return [option(ALWAYS, f"Always allow {request.tool} (this session)")]

    def _remember_run(self, request: RunRequest) -> None:
        if request.tool == "run_command":
            if request.prefix and self.allow_prefix is not None:
                self.allow_prefix(request.prefix)
        else:
            self._always_runs.add(request.tool)

    async def _ask_mcp(self, request: McpRequest) -> None:
        name = f"{request.server}.{request.tool}"
        call = ToolCallUpdate(
            tool_call_id=request.call_id,
            title=f"MCP {name}",
            kind="other",
            status="pending",
            content=[tool_content(text_block(self.redact(request.arguments)))],
        )
        options = [
            option(ONCE, "Allow"),
            option(ALWAYS, f"Always allow {name} (this session)"),
            option(REJECT, "Don't allow"),
        ]
        answer = await self._choose(call, options)
        if answer == REJECT:
            self.decide_mcp(request.call_id, MCP_REFUSED)
            return
        if answer == ALWAYS:
            self._always_mcp.add((request.server, request.tool))
        self.decide_mcp(request.call_id, None)

    async def _ask_commit(self, request: CommitRequest) -> None:
        call_id = request.call_id
        facts = [f"branch {request.branch}", *request.files, "", request.diff]
        call = ToolCallUpdate(
            tool_call_id=call_id,
            title=f"Commit: {request.message.splitlines()[0] if request.message else ''}",
            kind="execute",
            status="pending",
            content=[tool_content(text_block(self.redact("\n".join(facts))))],
        )
        # A commit is never covered by "always": each one is asked, as in the TUI.
        options = [option(ONCE, "Commit"), option(REJECT, "Don't commit")]
        answer = await self._choose(call, options)
        self.decide_commit(call_id, COMMIT_REFUSED if answer == REJECT else None)


async def _nothing() -> None:
    return None
