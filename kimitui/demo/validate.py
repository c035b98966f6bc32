"""Request checks that Moonshot applies, with Moonshot's wording.

Each check returns the error text of the 400 the real API would answer, or
None. A client that passes these against the scripted server will not be
surprised by the same mistakes against the real one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Body = dict[str, Any]


def check_thinking(body: Body) -> str | None:
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        return None
    return 'thinking must be enabled for this model: send thinking {"type": "enabled"}'


def check_temperature(body: Body) -> str | None:
    if "temperature" in body and body["temperature"] != 1:
        return "invalid temperature: only 1 is allowed for this model"
    return None


def _untyped_property(schema: Any, path: str) -> str | None:
    if not isinstance(schema, dict):
        return None
    for name, prop in (schema.get("properties") or {}).items():
        where = f"{path}properties.{name}"
        if not isinstance(prop, dict) or "type" not in prop:
            return where
        found = _untyped_property(prop, where + ".")
        if found:
            return found
    return None


def check_tool_schemas(body: Body) -> str | None:
    for tool in body.get("tools") or []:
        params = (tool.get("function") or {}).get("parameters")
        path = _untyped_property(params, "")
        if path:
            return f"At path '{path}': type is not defined"
    return None


def _assistant_problem(index: int, msg: Body) -> str | None:
    if msg.get("tool_calls") and "reasoning_content" not in msg:
        return (
            "thinking is enabled but reasoning_content is missing in assistant tool call "
            f"message at index {index}"
        )
    if msg.get("content") == "":
        return "text content is empty"
    return None


def _order_problem(index: int, msg: Body, pending: dict[str, int]) -> str | None:
    """Tool results must answer the latest calls before anything else is said."""
    role = msg.get("role")
    if role == "tool":
        call_id = msg.get("tool_call_id")
        if call_id not in pending:
            return f"tool_call_id {call_id} is not found in the preceding assistant message"
        del pending[call_id]
        return None
    if pending:
        call_id, at = next(iter(pending.items()))
        return (
            f"tool_call_id {call_id} of the assistant message at index {at} has no tool "
            f"message answering it before message index {index}"
        )
    if role == "assistant":
        for call in msg.get("tool_calls") or []:
            pending[call.get("id")] = index
    return None


def check_messages(body: Body) -> str | None:
    pending: dict[str, int] = {}
    for index, msg in enumerate(body.get("messages") or []):
        problem = _order_problem(index, msg, pending)
        if problem is None and msg.get("role") == "assistant":
            problem = _assistant_problem(index, msg)
        if problem:
            return problem
    if pending:
        call_id, at = next(iter(pending.items()))
        return (
            f"tool_call_id {call_id} of the assistant message at index {at} has no tool "
            "message answering it"
        )
    return None


CHECKS: tuple[Callable[[Body], str | None], ...] = (
    check_thinking,
    check_temperature,
    check_tool_schemas,
    check_messages,
)


def first_problem(body: Body) -> str | None:
    for check in CHECKS:
        problem = check(body)
        if problem:
            return problem
    return None
