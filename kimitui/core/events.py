"""Everything the Agent tells a front end, as frozen dataclasses.

Each event has a ``type`` string (the JSONL contract in DESIGN.md) and
serialises with :func:`to_dict`. Delta events carry streaming fragments for
live panes; they are not part of the JSONL stream, which reports whole texts
once per step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Literal

DoneReason = Literal[
    "finished",
    "max_steps",
    "token_budget",
    "time_budget",
    "cost_budget",
    "interrupted",
    "error",
]
Verdict = Literal["approved", "rejected", "partial"]
AgentState = Literal[
    "idle", "thinking", "tools", "review", "paused", "waiting", "retrying", "done", "error"
]


@dataclass(frozen=True)
class Event:
    type: ClassVar[str] = "event"
    # Streaming fragments are for live panes, not for the JSONL log.
    streaming: ClassVar[bool] = False

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}


@dataclass(frozen=True)
class SessionStarted(Event):
    type: ClassVar[str] = "session"
    id: str
    project: str
    model: str
    base_url: str = ""
    sandbox: str = ""  # what confines the programs run for the model ("none": nothing)


@dataclass(frozen=True)
class StepStarted(Event):
    type: ClassVar[str] = "step"
    n: int


@dataclass(frozen=True)
class ReasoningDelta(Event):
    type: ClassVar[str] = "reasoning_delta"
    streaming: ClassVar[bool] = True
    text: str


@dataclass(frozen=True)
class ContentDelta(Event):
    type: ClassVar[str] = "content_delta"
    streaming: ClassVar[bool] = True
    text: str


@dataclass(frozen=True)
class ToolCallDelta(Event):
    """A tool call is being streamed: its name is known, arguments still growing."""

    type: ClassVar[str] = "tool_call_delta"
    streaming: ClassVar[bool] = True
    index: int
    name: str
    arguments_chars: int


@dataclass(frozen=True)
class Reasoning(Event):
    type: ClassVar[str] = "reasoning"
    text: str


@dataclass(frozen=True)
class Content(Event):
    type: ClassVar[str] = "content"
    text: str


@dataclass(frozen=True)
class ToolCall(Event):
    type: ClassVar[str] = "tool_call"
    id: str
    name: str
    arguments: Any


@dataclass(frozen=True)
class ToolOutput(Event):
    type: ClassVar[str] = "tool_result"
    id: str
    name: str
    ok: bool
    output: str
    duration_s: float = 0.0


@dataclass(frozen=True)
class EditProposed(Event):
    type: ClassVar[str] = "edit"
    id: str
    path: str
    diff: str
    added: int
    removed: int
    new_file: bool = False
    unread_overwrite: bool = False


@dataclass(frozen=True)
class EditDecided(Event):
    """The gate's answer to an edit, or (kind "command") to a run_command call.

    ``by`` says who answered a command: "user", "allow-list" (auto under [commands] allow),
    "deny" ([commands] deny), "never" (--approve never) or "headless" (nobody to ask).
    """

    type: ClassVar[str] = "decision"
    id: str
    path: str  # the edited file; for a command, the folder it runs in
    verdict: Verdict
    hunks: list[int] = field(default_factory=list)
    feedback: str = ""
    kind: Literal["edit", "command"] = "edit"
    by: str = ""


@dataclass(frozen=True)
class UsageReport(Event):
    """Token use of one model call, with the session's running totals."""

    type: ClassVar[str] = "usage"
    prompt: int
    completion: int
    reasoning: int
    cached: int
    total: int
    context_pct: float
    session_total: int = 0
    cost: float | None = None


@dataclass(frozen=True)
class UserMessage(Event):
    """A message from the user entered the conversation (the task, a steer, a queued one)."""

    type: ClassVar[str] = "user_message"
    text: str
    kind: Literal["task", "steer", "queued", "note"] = "task"


@dataclass(frozen=True)
class RetryScheduled(Event):
    type: ClassVar[str] = "retry"
    attempt: int
    reason: str
    wait_s: float


@dataclass(frozen=True)
class Notice(Event):
    type: ClassVar[str] = "notice"
    text: str
    level: Literal["info", "warning", "error"] = "info"


@dataclass(frozen=True)
class McpStatus(Event):
    """An MCP server's state: starting, ready (with its tool count), failed or exited."""

    type: ClassVar[str] = "mcp"
    server: str
    status: Literal["starting", "ready", "failed", "exited", "disabled", "stopped"]
    tools: int = 0
    error: str = ""


@dataclass(frozen=True)
class StateChanged(Event):
    type: ClassVar[str] = "state"
    state: AgentState


@dataclass(frozen=True)
class Done(Event):
    type: ClassVar[str] = "done"
    reason: DoneReason
    message: str = ""


@dataclass(frozen=True)
class CommandProposed(Event):
    """run_command was asked for: the line, where it runs, and what the check flagged."""

    type: ClassVar[str] = "command"
    id: str
    command: str
    cwd: str
    flags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CommandOutputDelta(Event):
    """Live output of a running command (redacted), for the tool pane."""

    type: ClassVar[str] = "command_output_delta"
    streaming: ClassVar[bool] = True
    id: str
    text: str


@dataclass(frozen=True)
class CommandFinished(Event):
    type: ClassVar[str] = "command_result"
    id: str
    exit: int | None  # None: killed on timeout
    output: str  # the tail the model was shown
    duration_s: float = 0.0


@dataclass(frozen=True)
class CheckpointTaken(Event):
    """The project as it was before ``step`` changed it; `kimitui undo --to STEP` restores it."""

    type: ClassVar[str] = "checkpoint"
    step: int
    files: int
    duration_s: float = 0.0


def event_from_dict(data: dict[str, Any]) -> Event | None:
    """An event read back from a transcript; None when its type or fields are unknown."""
    cls = _BY_TYPE.get(str(data.get("type")))
    if cls is None:
        return None
    names = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except TypeError:  # a required field is missing: an older or damaged record
        return None


_BY_TYPE: dict[str, type[Event]] = {cls.type: cls for cls in Event.__subclasses__()}
