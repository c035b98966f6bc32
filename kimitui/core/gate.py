"""The approval gate: every proposed edit passes one before it touches disk.

A gate is anything with ``async review(edit) -> Decision``. The policies here
need no person. :class:`AskGate` is the interactive one: ``review`` parks the
edit with a future and waits; a front end watches the pending list and
resolves it with :meth:`AskGate.decide`, so the loop never knows who decided.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from kimitui.core.events import Event, StepStarted, ToolCallDelta
from kimitui.tools.edits import Decision, ProposedEdit
from kimitui.tools.git import NEVER_COMMIT, CommitAnswer, CommitRequest
from kimitui.tools.testrun import RunRequest

NEVER_FEEDBACK = (
    "kimitui is running with --approve never: no edit is applied. "
    "Describe the change you would make instead of proposing it again."
)
EDIT_TOOLS = frozenset({"write_file", "edit_file"})

ReviewStatus = Literal["pending", "approved", "partial", "rejected", "auto", "cancelled"]


NEVER_RUN = "kimitui is running with --approve never: unconfined programs never run."
NEVER_COMMAND = "kimitui is running with --approve never: no command runs."
HEADLESS_NOT_ALLOWED = (
    "kimitui runs headless with --approve auto, where only commands covered by "
    "[commands] allow run and nobody is here to ask about the others: {why}. "
    "Use the other tools, or a command the allow-list covers."
)


def command_auto(request: RunRequest) -> bool:
    """Does a run_command run without asking? Only when the allow-list covers it all,
    nothing in it is flagged, and the machine confines it."""
    return request.allowed and request.sandbox != "none"


def _why_asked(request: RunRequest) -> str:
    reasons = list(request.why_asked)
    if request.flags:
        reasons.insert(0, "it is flagged (" + "; ".join(request.flags) + ")")
    return "; ".join(reasons) or "the allow-list does not cover it"


# Awaited after an edit is approved and before it is written: the checkpoint.
BeforeApply = Callable[[], Awaitable[None]]


async def _before_apply(gate: Gate, decision: Decision) -> Decision:
    hook = getattr(gate, "before_apply", None)
    if hook is not None and decision.verdict != "rejected":
        await hook()
    return decision


NEVER_MCP = (
    "kimitui is running with --approve never: only MCP tools marked read-only run. "
    "Say what you would do with this tool instead."
)

AUTO_MCP = (
    "not run: {tool} of MCP server {server!r} may change something, and with --approve auto "
    'nobody can be asked. The user can let it run with allow = ["{tool}"] in '
    "[mcp.servers.{server}] of the kimitui config."
)


@dataclass(frozen=True)
class McpRequest:
    """A call to an MCP server's tool that is not read-only, as the gate shows it."""

    call_id: str
    server: str
    tool: str
    arguments: str  # formatted JSON


class Gate(Protocol):
    # True under --approve never: programs see the project read-only.
    read_only: bool
    before_apply: BeforeApply | None

    async def review(self, edit: ProposedEdit) -> Decision: ...

    async def review_run(self, request: RunRequest) -> str | None:
        """A program that would run unconfined: None lets it run, text refuses."""
        ...

    async def review_mcp(self, request: McpRequest) -> str | None:
        """An MCP call that may change something: None lets it run, text refuses."""
        ...

    async def review_commit(self, request: CommitRequest) -> CommitAnswer:
        """A commit the model asked for: its message, exact diff and hooks."""
        ...


class AutoGate:
    """``--approve auto``: every hunk of every edit is applied."""

    read_only = False
    before_apply: BeforeApply | None = None

    async def review(self, edit: ProposedEdit) -> Decision:
        return await _before_apply(self, Decision.approve_all(edit))

    async def review_run(self, request: RunRequest) -> str | None:
        if request.tool != "run_command" or request.allowed:
            return None
        # Headless auto: nobody can be asked, so what the allow-list does not cover is refused.
        return HEADLESS_NOT_ALLOWED.format(why=_why_asked(request))

    async def review_mcp(self, request: McpRequest) -> str | None:
        # auto is for edits; like a command outside the allow-list, nobody can be asked.
        return AUTO_MCP.format(server=request.server, tool=request.tool)

    async def review_commit(self, request: CommitRequest) -> CommitAnswer:
        return CommitAnswer()


class NeverGate:
    """``--approve never``: nothing is applied and the model is told why."""

    read_only = True
    before_apply: BeforeApply | None = None

    async def review(self, edit: ProposedEdit) -> Decision:
        return Decision.reject(NEVER_FEEDBACK)

    async def review_run(self, request: RunRequest) -> str | None:
        return NEVER_COMMAND if request.tool == "run_command" else NEVER_RUN

    async def review_mcp(self, request: McpRequest) -> str | None:
        return NEVER_MCP

    async def review_commit(self, request: CommitRequest) -> CommitAnswer:
        return CommitAnswer(NEVER_COMMIT)


class _Asked(Protocol):
    @property
    def call_id(self) -> str: ...


Q = TypeVar("Q", bound=_Asked)
A = TypeVar("A")
R = TypeVar("R", bound="Question[Any, Any]")


@dataclass
class Question(Generic[Q, A]):
    """A run, an MCP call or a commit waiting for the user's answer."""

    request: Q
    future: asyncio.Future[A] = field(repr=False)


class RunReview(Question[RunRequest, str | None]):
    """An unconfined run or a command: the answer None runs it, text refuses."""


class McpReview(Question[McpRequest, str | None]):
    """An MCP call that may change something: None runs it, text refuses."""


class CommitReview(Question[CommitRequest, CommitAnswer]):
    """A commit: yes (maybe with an edited message) or no."""


@dataclass
class Review:
    """One proposed edit of the current model turn and what became of it."""

    edit: ProposedEdit
    turn: int
    status: ReviewStatus = "pending"
    future: asyncio.Future[Decision] | None = field(default=None, repr=False)

    @property
    def pending(self) -> bool:
        return self.status == "pending"


class AskGate:
    """``--approve ask``: each edit waits until a front end calls :meth:`decide`.

    Listeners (plain callables, called on the loop's thread) hear about every
    change to the pending list. Feed the Agent's events to :meth:`observe` so
    the gate knows where a model turn starts and how many edits it asked for.
    """

    read_only = False
    interactive = True  # someone answers: run_command decisions are the user's
    before_apply: BeforeApply | None = None

    def __init__(self, *, auto_approve: bool = False) -> None:
        self.auto_approve = auto_approve
        self.run_reviews: list[RunReview] = []
        self.mcp_reviews: list[McpReview] = []
        self.commit_reviews: list[CommitReview] = []
        self.turn = 0
        self.turn_reviews: list[Review] = []
        self._edit_calls: set[int] = set()
        self._turn_approved = False
        self._listeners: list[Callable[[], None]] = []

    # -- observing ---------------------------------------------------------

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    def observe(self, event: Event) -> None:
        """Agent events: a new step starts a new turn; streamed calls are counted."""
        if isinstance(event, StepStarted):
            self.turn = event.n
            self.turn_reviews = [r for r in self.turn_reviews if r.pending]
            self._edit_calls.clear()
            self._turn_approved = False
        elif isinstance(event, ToolCallDelta) and event.name in EDIT_TOOLS:
            self._edit_calls.add(event.index)

    @property
    def pending(self) -> list[Review]:
        return [r for r in self.turn_reviews if r.pending]

    @property
    def current(self) -> Review | None:
        pending = self.pending
        return pending[0] if pending else None

    @property
    def still_to_come(self) -> int:
        """Edit calls of this turn not yet proposed (some may fail before review)."""
        return max(len(self._edit_calls) - len(self.turn_reviews), 0)

    # -- the loop's side ----------------------------------------------------

    async def review(self, edit: ProposedEdit) -> Decision:
        if self.auto_approve or self._turn_approved:
            self.turn_reviews.append(Review(edit, self.turn, "auto"))
            self._changed()
            return await _before_apply(self, Decision.approve_all(edit))
        item = Review(edit, self.turn, future=asyncio.get_running_loop().create_future())
        self.turn_reviews.append(item)
        self._changed()
        try:
            decision = await item.future
        finally:
            if item.pending:  # the run was interrupted or stopped mid-review
                item.status = "cancelled"
            self._changed()
        return await _before_apply(self, decision)

    async def review_run(self, request: RunRequest) -> str | None:
        """Asks even with edits auto-approved (auto is for edits), except for a command
        the allow-list covers whole, unflagged, in a sandbox."""
        if request.tool == "run_command" and command_auto(request):
            return None
        return await self._ask(self.run_reviews, RunReview(request, _future()))

    async def review_mcp(self, request: McpRequest) -> str | None:
        """Always asks, like a run: the edits' auto toggle does not cover MCP calls."""
        return await self._ask(self.mcp_reviews, McpReview(request, _future()))

    async def review_commit(self, request: CommitRequest) -> CommitAnswer:
        """Always asks, even with edits auto-approved: a commit is not an edit."""
        return await self._ask(self.commit_reviews, CommitReview(request, _future()))

    async def _ask(self, queue: list[R], item: R) -> Any:
        queue.append(item)
        self._changed()
        try:
            return await item.future
        finally:
            queue.remove(item)
            self._changed()

    # -- the front end's side ------------------------------------------------

    def decide_commit(self, call_id: str, refusal: str | None, message: str | None = None) -> bool:
        """Answer the commit of ``call_id``: refusal None commits (``message`` if edited)."""
        return _answer(self.commit_reviews, call_id, CommitAnswer(refusal, message))

    def decide_mcp(self, call_id: str, refusal: str | None) -> bool:
        """Answer the waiting MCP call of ``call_id``: None runs it, text refuses."""
        return _answer(self.mcp_reviews, call_id, refusal)

    def decide_run(self, call_id: str, refusal: str | None) -> bool:
        """Answer the waiting run of ``call_id``: None runs it, text refuses."""
        return _answer(self.run_reviews, call_id, refusal)

    def decide(self, edit_id: str, decision: Decision) -> bool:
        """Resolve the pending review of ``edit_id``; False when none is waiting."""
        item = next((r for r in self.pending if r.edit.id == edit_id), None)
        if item is None or item.future is None or item.future.done():
            return False
        if decision.verdict == "partial" and not decision.hunks and decision.content is None:
            # Applying with every hunk left out writes nothing: that is a rejection.
            decision = Decision.reject(decision.feedback)
        item.status = decision.verdict
        item.future.set_result(decision)
        self._changed()
        return True

    def approve_turn(self) -> int:
        """Approve every pending edit of this turn and the ones still to come."""
        self._turn_approved = True
        pending = self.pending
        for item in pending:
            self.decide(item.edit.id, Decision.approve_all(item.edit))
        return len(pending)

    def set_auto(self, on: bool) -> None:
        """The session toggle: auto-approve every edit from now on, or ask again."""
        self.auto_approve = on
        self._changed()


def gate_for(policy: str) -> Gate:
    if policy == "auto":
        return AutoGate()
    if policy == "never":
        return NeverGate()
    raise ValueError(f"approval policy {policy!r} needs an interactive front end")


def _future() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


def _answer(queue: list[R], call_id: str, answer: object) -> bool:
    """Resolve the question about ``call_id``; False when none is waiting."""
    item = next((q for q in queue if q.request.call_id == call_id), None)
    if item is None or item.future.done():
        return False
    item.future.set_result(answer)
    return True
