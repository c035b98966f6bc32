"""Scripts for the scripted model server, as plain data.

A script is a sequence of turns; each turn is what the model "says" in answer
to one chat-completions request. Faults attached to a turn are played on the
requests that come before the turn is finally served, which is how tests make
the server misbehave in exactly the ways the real API does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

FaultKind = Literal[
    "status", "drop", "cut", "malformed", "stall", "empty", "flood", "huge_event", "raw"
]
FloodField = Literal["content", "reasoning", "arguments"]

# What Moonshot says for the statuses a client is likely to meet; used when a
# Fault leaves `message` empty so tests need not spell the text out each time.
DEFAULT_MESSAGES: dict[int, str] = {
    400: "Invalid request",
    401: "Invalid Authentication",
    403: "Forbidden",
    404: "Not found",
    429: "The engine is currently overloaded, please try again later",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


@dataclass(frozen=True)
class ToolCallSpec:
    """One tool call the model makes.

    `arguments` as a str is sent verbatim, so a test can send malformed JSON.
    Without an `id`, the server invents a Kimi-style `functions.<name>:<n>`.
    """

    name: str
    arguments: dict[str, Any] | str
    id: str | None = None


@dataclass(frozen=True)
class Fault:
    """A failure played instead of the turn on one attempt.

    status: an HTTP error with Moonshot's JSON body and Retry-After when set.
    drop: the TCP connection closes mid-stream.
    cut: the response ends cleanly but without finish_reason and [DONE].
    malformed: a `data:` line that is not JSON, then the response ends.
    stall: silence for `stall_s`, then the response ends unfinished.
    empty: a complete 200 stream that holds only reasoning.
    flood: `size` characters of `field` (content, reasoning, or the arguments of one
        read_file call) in chunks of `chunk_chars`, made on the fly, then a normal end.
    huge_event: one `data:` line of about `size` bytes (a content chunk), then a normal end.
    raw: each of `payloads` as one `data:` line (a str verbatim, anything else as JSON),
        then `[DONE]`; for chunks of any shape a hostile server might send.
    `after_chunks` normal chunks of the turn go out before drop/cut/malformed/stall.
    A status fault with `echo_authorization` appends the request's Authorization
    header to its message, as some servers' error pages do.
    """

    kind: FaultKind
    status: int = 500
    error_type: str = "server_error"
    message: str = ""
    retry_after: float | None = None
    after_chunks: int = 3
    stall_s: float = 30.0
    size: int = 0
    field: FloodField = "content"
    chunk_chars: int = 16_384
    payloads: tuple[Any, ...] = ()
    echo_authorization: bool = False

    @property
    def text(self) -> str:
        return self.message or DEFAULT_MESSAGES.get(self.status, "Error")

    @classmethod
    def flood(cls, size: int, field: FloodField = "content") -> Fault:
        return cls("flood", size=size, field=field)

    @classmethod
    def raw(cls, *payloads: Any) -> Fault:
        return cls("raw", payloads=payloads)

    @classmethod
    def overloaded(cls) -> Fault:
        return cls("status", status=429, error_type="engine_overloaded_error")

    @classmethod
    def rate_limited(cls, retry_after: float) -> Fault:
        return cls(
            "status",
            status=429,
            error_type="rate_limit_reached_error",
            message="Your account reached its rate limit, please try again later",
            retry_after=retry_after,
        )

    @classmethod
    def quota_exceeded(cls) -> Fault:
        return cls(
            "status",
            status=429,
            error_type="exceeded_current_quota_error",
            message="Your account is suspended due to insufficient balance",
        )

    @classmethod
    def unavailable(cls, status: int = 503) -> Fault:
        return cls("status", status=status)

    @classmethod
    def context_overflow(cls, limit: int = 262_144, requested: int = 269_030) -> Fault:
        return cls(
            "status",
            status=400,
            error_type="invalid_request_error",
            message=f"Your request exceeded model token limit: {limit} (requested: {requested})",
        )


@dataclass(frozen=True)
class Turn:
    """One model answer: reasoning, then content, then tool calls."""

    reasoning: str = ""
    content: str = ""
    tool_calls: tuple[ToolCallSpec, ...] = ()
    faults: tuple[Fault, ...] = ()
    interleave: bool = False
    late_name: bool = False
    expect: Callable[[dict[str, Any]], str | None] | None = None


# A callable receives the request body on every attempt at its turn, so a
# script can react to the tool results the client sent back.
TurnSource = Turn | Callable[[dict[str, Any]], Turn]
