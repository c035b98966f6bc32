"""Keeping a long conversation inside the model's context window.

Two stages, cheapest first: old tool results are shortened in place (their
first line keeps the file name or the test outcome), and only if that is not
enough, earlier steps are replaced by a summary the model writes. The system
prompt and the tool list are never touched, so the server's prompt cache
keeps hitting on them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from kimitui.core.budget import Budget
from kimitui.core.jsoncache import EncodedMessages
from kimitui.core.llm import ModelClient

# Steps at the end of the conversation that stay verbatim.
KEEP_LAST_STEPS = 2
KEEP_TOOL_CHARS = 240
MIN_SUMMARY_SHARE = 0.05
SHORTENED_MARK = "[kimitui shortened this old tool result to save context: {n:,} chars left out]"

SUMMARY_INSTRUCTION = """\
The conversation below is being compacted to fit the context window. Write a \
summary that lets you continue the task without it. Keep: the user's task and \
every instruction or feedback the user gave; decisions made and why; what each \
file you read contains that still matters; every edit applied, partially \
applied or rejected (with the user's reasons); test results; what remains to \
do. Be specific (paths, names, errors). Plain text, no preamble."""

SUMMARY_HEADER = "[kimitui compacted the earlier steps of this conversation]"


@dataclass(frozen=True)
class Compacted:
    shortened: int = 0
    summarised: int = 0
    tokens_before: int = 0
    tokens_after: int = 0

    def still_over(self, limit: int) -> bool:
        return self.tokens_after >= limit

    def describe(self) -> str:
        parts = []
        if self.shortened:
            parts.append(f"shortened {self.shortened} old tool results")
        if self.summarised:
            parts.append(f"summarised {self.summarised} earlier messages")
        saved = self.tokens_before - self.tokens_after
        return (
            f"context compacted: {', '.join(parts) or 'nothing to compact'}; "
            f"~{self.tokens_before:,} -> ~{self.tokens_after:,} tokens (saved ~{saved:,})"
        )


def window_from_overflow(message: str) -> int | None:
    """The real limit from "exceeded model token limit: 262144 (requested: ...)"."""
    found = re.search(r"token limit:?\s*(\d+)", message)
    return int(found.group(1)) if found else None


class TokenEstimator:
    """Characters-per-token, calibrated on the server's own prompt counts."""

    def __init__(
        self, chars_per_token: float = 4.0, encoded: EncodedMessages | None = None
    ) -> None:
        self.chars_per_token = chars_per_token
        # Shared with the client, so a step encodes its new messages once for both.
        self.encoded = encoded or EncodedMessages()
        self._tools_size: tuple[list[dict[str, Any]], int] | None = None

    def chars(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> int:
        """len(json.dumps(messages)) + len(json.dumps(tools)), without re-serialising."""
        texts = self.encoded.texts(messages)
        separators = 2 + 2 * max(len(texts) - 1, 0)  # "[", "]" and ", " between
        return sum(map(len, texts)) + separators + self._size_of_tools(tools)

    def _size_of_tools(self, tools: list[dict[str, Any]]) -> int:
        if self._tools_size is None or self._tools_size[0] is not tools:
            self._tools_size = (tools, len(json.dumps(tools)))
        return self._tools_size[1]

    def calibrate(self, chars: int, prompt_tokens: int) -> None:
        if prompt_tokens > 0 and chars > 0:
            self.chars_per_token = chars / prompt_tokens

    def tokens(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> int:
        return round(self.chars(messages, tools) / self.chars_per_token)


def tail_start(messages: list[dict[str, Any]], keep_steps: int = KEEP_LAST_STEPS) -> int:
    """Index of the first message of the last ``keep_steps`` assistant turns.

    The tail always begins at an assistant message, so no tool result is ever
    separated from the call it answers.
    """
    assistants = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
    if len(assistants) <= keep_steps:
        return len(messages) if not assistants else assistants[0]
    return assistants[-keep_steps]


def shorten_old_tool_results(messages: list[dict[str, Any]], keep_steps: int) -> int:
    """Shorten tool results before the kept tail, in place; returns how many."""
    count = 0
    for msg in messages[: tail_start(messages, keep_steps)]:
        content = msg.get("content")
        if msg.get("role") != "tool" or not isinstance(content, str):
            continue
        if len(content) <= KEEP_TOOL_CHARS or SHORTENED_MARK[:20] in content:
            continue
        head = content[:KEEP_TOOL_CHARS]
        msg["content"] = f"{head}\n{SHORTENED_MARK.format(n=len(content) - len(head))}"
        count += 1
    return count


def first_task_index(messages: list[dict[str, Any]]) -> int | None:
    return next((i for i, m in enumerate(messages) if m.get("role") == "user"), None)


def render_for_summary(messages: list[dict[str, Any]]) -> str:
    """The part of the conversation to summarise, as plain text."""
    lines: list[str] = []
    for msg in messages:
        role = msg.get("role", "?")
        if msg.get("content"):
            lines.append(f"## {role}\n{msg['content']}")
        for call in msg.get("tool_calls") or []:
            fn = call.get("function", {})
            lines.append(f"## {role} calls {fn.get('name')}({fn.get('arguments', '')})")
    return "\n\n".join(lines)


def summary_request(system: dict[str, Any], head: list[dict[str, Any]]) -> list[dict[str, Any]]:
    text = f"{SUMMARY_INSTRUCTION}\n\n---\n\n{render_for_summary(head)}"
    return [system, {"role": "user", "content": text}]


def summary_message(summary: str, applied_edits: list[str]) -> dict[str, Any]:
    edits = "\n".join(f"- {e}" for e in applied_edits) or "- none"
    return {
        "role": "user",
        "content": f"{SUMMARY_HEADER}\n\n{summary.strip()}\n\nEdits applied so far:\n{edits}",
    }


class Compactor:
    """Decides when to compact and does it, mutating the message list in place."""

    def __init__(self, client: ModelClient, budget: Budget, *, threshold: float = 0.85) -> None:
        self.client = client
        self.budget = budget
        self.threshold = threshold
        self.estimator = TokenEstimator(encoded=client.encoded)

    @property
    def limit(self) -> int:
        return int(self.budget.context_window * self.threshold)

    def needed(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> bool:
        return self.over(self.estimator.chars(messages, tools))

    def over(self, chars: int) -> bool:
        """Whether a request of ``chars`` serialised characters reaches the limit."""
        return round(chars / self.estimator.chars_per_token) >= self.limit

    async def compact(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        applied_edits: list[str],
        *,
        force: bool = False,
    ) -> Compacted:
        before = self.estimator.tokens(messages, tools)
        shortened = shorten_old_tool_results(messages, KEEP_LAST_STEPS)
        summarised = 0
        if force or self.needed(messages, tools):
            summarised = await self._summarise(messages, applied_edits, force=force)
        after = self.estimator.tokens(messages, tools)
        return Compacted(shortened, summarised, before, after)

    async def _summarise(
        self, messages: list[dict[str, Any]], applied_edits: list[str], *, force: bool
    ) -> int:
        task_at = first_task_index(messages)
        if task_at is None:
            return 0
        cut = max(tail_start(messages, KEEP_LAST_STEPS), task_at + 1)
        head = messages[task_at + 1 : cut]
        # A summary call costs a request; below this it cannot save enough to pay off.
        too_small = self.estimator.tokens(head, []) < MIN_SUMMARY_SHARE * self.limit
        if not head or (too_small and not force):
            return 0
        request = summary_request(messages[0], head)
        # The summary call's own stream is not part of the conversation: no live events.
        completion = await self.client.stream(request, [], lambda _event: None)
        if completion.usage is not None:
            self.budget.record(completion.usage)
        messages[task_at + 1 : cut] = [summary_message(completion.content, applied_edits)]
        return len(head)
