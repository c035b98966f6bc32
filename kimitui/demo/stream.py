"""Turning a Turn into chat.completion.chunk payloads, and estimating usage.

Pure functions: the HTTP server decides when each piece goes out, this
module decides what the pieces are and what the chunks look like.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from kimitui.demo.script import ToolCallSpec, Turn

# Roughly one BPE token: up to four visible characters with the spaces before
# them. Every character lands in exactly one piece, so joining restores the text.
_TOKEN_RE = re.compile(r"\s*\S{1,4}|\s+", re.DOTALL)

PieceKind = Literal["reasoning", "content", "call"]


@dataclass(frozen=True)
class Piece:
    """One token-sized fragment of an answer, the unit of pacing."""

    kind: PieceKind
    text: str
    index: int = 0  # which tool call, for kind "call"
    call_id: str | None = None  # set on the fragment that names a call
    name: str | None = None


@dataclass(frozen=True)
class CallPlan:
    index: int
    id: str
    name: str
    arguments: str


def tokenize(text: str) -> list[str]:
    return _TOKEN_RE.findall(text)


def tokens_for(chars: int) -> int:
    """The server's whole tokenizer: about four characters a token."""
    return math.ceil(chars / 4)


def arguments_text(spec: ToolCallSpec) -> str:
    if isinstance(spec.arguments, str):
        return spec.arguments
    return json.dumps(spec.arguments, ensure_ascii=False)


def plan_calls(turn: Turn, new_id: Callable[[str], str]) -> list[CallPlan]:
    """Fix ids and argument text for the turn's calls; `new_id(name)` invents ids."""
    return [
        CallPlan(i, spec.id or new_id(spec.name), spec.name, arguments_text(spec))
        for i, spec in enumerate(turn.tool_calls)
    ]


def _call_fragments(call: CallPlan, late_name: bool) -> list[Piece]:
    header = Piece("call", "", call.index, call.id, call.name)
    args = [Piece("call", tok, call.index) for tok in tokenize(call.arguments)]
    if late_name:
        # An index-only fragment must come first, even for empty arguments.
        first = args[0] if args else Piece("call", "", call.index)
        return [first, header, *args[1:]]
    return [header, *args]


def _round_robin(seqs: list[list[Piece]]) -> list[Piece]:
    out: list[Piece] = []
    for i in range(max((len(s) for s in seqs), default=0)):
        out.extend(s[i] for s in seqs if i < len(s))
    return out


def plan_pieces(
    turn: Turn, calls: Sequence[CallPlan], *, reasoning_only: bool = False
) -> list[Piece]:
    """Everything the turn streams, in wire order: reasoning, content, calls."""
    pieces = [Piece("reasoning", tok) for tok in tokenize(turn.reasoning)]
    if reasoning_only:
        return pieces
    pieces += [Piece("content", tok) for tok in tokenize(turn.content)]
    seqs = [_call_fragments(c, turn.late_name) for c in calls]
    pieces += _round_robin(seqs) if turn.interleave else [p for s in seqs for p in s]
    return pieces


def _mergeable(a: Piece, b: Piece) -> bool:
    if a.kind != b.kind:
        return False
    if a.kind != "call":
        return True
    # A naming fragment stays alone, as Kimi sends it; argument text of the
    # same call may be joined.
    return a.index == b.index and a.call_id is None and b.call_id is None


def _delta(piece: Piece, text: str) -> dict[str, Any]:
    if piece.kind == "reasoning":
        return {"reasoning_content": text}
    if piece.kind == "content":
        return {"content": text}
    frag: dict[str, Any] = {"index": piece.index}
    if piece.call_id is not None:
        frag |= {"id": piece.call_id, "type": "function"}
        frag["function"] = {"name": piece.name, "arguments": ""}
    else:
        frag["function"] = {"arguments": text}
    return {"tool_calls": [frag]}


def group_deltas(pieces: Iterable[Piece]) -> list[dict[str, Any]]:
    """Merge neighbouring pieces of one kind into as few deltas as possible."""
    runs: list[tuple[Piece, list[str]]] = []
    for p in pieces:
        if runs and _mergeable(runs[-1][0], p):
            runs[-1][1].append(p.text)
        else:
            runs.append((p, [p.text]))
    return [_delta(first, "".join(texts)) for first, texts in runs]


class ChunkFactory:
    """Builds the chunk dicts of one response, all sharing one id."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = "chatcmpl-" + secrets.token_hex(12)
        self.created = int(time.time())
        self._first = True

    def chunk(
        self, delta: dict[str, Any], finish: str | None = None, usage: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if self._first:
            delta = {"role": "assistant", **delta}
            self._first = False
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
        if usage is not None:
            choice["usage"] = usage
        return self._wrap([choice])

    def usage_chunk(self, usage: dict[str, Any]) -> dict[str, Any]:
        return self._wrap([]) | {"usage": usage}

    def _wrap(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }


def prompt_units(body: dict[str, Any]) -> list[str]:
    """The prompt as the cache sees it: the tool list first, then each message."""
    tools = json.dumps(body.get("tools") or [], sort_keys=True)
    messages = body.get("messages") or []
    return [tools, *(json.dumps(m, sort_keys=True) for m in messages)]


def cached_chars(units: list[str], previous: list[str]) -> int:
    """Characters of the longest prefix of units shared with the previous request."""
    total = 0
    for a, b in zip(units, previous, strict=False):
        if a != b:
            break
        total += len(a)
    return total


def completion_chars(
    turn: Turn, calls: Sequence[CallPlan], reasoning_only: bool
) -> tuple[int, int]:
    """(reasoning characters, all output characters) of what was streamed."""
    reasoning = len(turn.reasoning)
    if reasoning_only:
        return reasoning, reasoning
    return reasoning, reasoning + len(turn.content) + sum(len(c.arguments) for c in calls)


def build_usage(
    style: Literal["kimi", "openai"], prompt_chars: int, cached: int, reasoning: int, output: int
) -> dict[str, Any]:
    prompt = max(1, tokens_for(prompt_chars))
    cached_tokens = min(prompt, cached // 4)
    completion = tokens_for(output)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if style == "kimi":
        return usage | {"cached_tokens": cached_tokens}
    return usage | {
        "prompt_tokens_details": {"cached_tokens": cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": tokens_for(reasoning)},
    }
