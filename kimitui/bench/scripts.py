"""Scripts for the scripted model server: streamed reasoning, bursts, long sessions."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from kimitui.demo.script import ToolCallSpec, Turn, TurnSource
from kimitui.demo.server import ScriptedServer
from kimitui.demo.stream import tokenize

# Lowercase prose only, so probes typed in upper case never occur in the stream.
VOCABULARY = (
    "the module reads each order and checks whether the discount applies before "
    "computing totals so splitting pricing from data keeps tests simple while imports "
    "stay stable because callers use app as facade and we must not break them when "
    "moving functions into logic with models holding dataclasses that have no behaviour"
)
WORDS = tuple(VOCABULARY.split())
PARAGRAPH_TOKENS = 60  # a paragraph break every 60 tokens, as in TEXTUAL_NOTES.md
FINAL = "Done: nothing else to change."


def prose(tokens: int, seed: int = 7, paragraph: int = PARAGRAPH_TOKENS) -> str:
    """Lowercase reasoning of about ``tokens`` server tokens, a paragraph every ``paragraph``."""
    rng = random.Random(seed)
    parts: list[str] = []
    count = 0
    while count < tokens:
        words = [rng.choice(WORDS) for _ in range(paragraph // 2)]
        para = " ".join(words) + "."
        parts.append(para)
        count += len(tokenize(para))
    return "\n\n".join(parts)


def marker_text(tokens: int, marker: str, seed: int = 7) -> str:
    """Prose ending in ``marker``, which shows that all of it reached the screen."""
    return f"{prose(tokens, seed)} {marker}"


def one_step(reasoning: str) -> list[TurnSource]:
    """One answer of pure reasoning, then a short final answer."""
    return [Turn(reasoning=reasoning, content=FINAL)]


def long_session(
    server: Callable[[], ScriptedServer],
    steps: int,
    reasoning_chars: int,
    paced_steps: set[int],
    tokens_per_second: float,
) -> list[TurnSource]:
    """``steps`` turns of reasoning plus a read_file call; ``paced_steps`` stream at a rate."""
    turns: list[TurnSource] = []
    for n in range(1, steps + 1):
        text = prose(reasoning_chars // 4, seed=n)[:reasoning_chars]
        rate = tokens_per_second if n in paced_steps else None
        turns.append(_paced(server, rate, Turn(text, tool_calls=(_read("filler.txt"),))))
    turns.append(Turn(reasoning="That is all of it.", content=FINAL))
    return turns


def _paced(
    server: Callable[[], ScriptedServer], rate: float | None, turn: Turn
) -> Callable[[dict[str, Any]], Turn]:
    def source(body: dict[str, Any]) -> Turn:
        server().tokens_per_second = rate
        return turn

    return source


def _read(path: str) -> ToolCallSpec:
    return ToolCallSpec("read_file", {"path": path})


def engine_steps(steps: int) -> list[TurnSource]:
    """``steps`` short turns, each reading one small file, then a final answer."""
    turns: list[TurnSource] = [
        Turn(reasoning="Checking the file again.", tool_calls=(_read("a.py"),))
        for _ in range(steps)
    ]
    turns.append(Turn(reasoning="Enough.", content=FINAL))
    return turns
