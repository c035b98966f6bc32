"""Issue 3's token benchmark: what the demo refactor's tool results cost, against the article.

The demo's scripted model is run through the real Agent and tools (approve auto) on
a copy of the sample project. At each tool call, the same call is also answered the
way the article's Step 3 tools would answer it, on the project as it is at that
moment: ``list_files`` = every ``*.py`` path, ``read_file`` = the whole file,
``write_file`` = ``wrote N chars to PATH``, ``run_tests`` = the last 4,000 characters
of ``python -m pytest -q``. The article has no ``search`` or ``edit_file``: a search
is modelled as reading every ``.py`` file, an edit as rewriting the whole file.
Tokens are approximated as characters / 4.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kimitui.bench.report import Row
from kimitui.config import Settings
from kimitui.core import events as ev
from kimitui.core.gate import AutoGate
from kimitui.demo import DEMO_TASK, copy_sample, demo_turns
from kimitui.demo.server import ScriptedServer
from kimitui.wiring import Endpoint, build_agent

ARTICLE_TAIL = 4000


@dataclass
class CallCost:
    step: int
    name: str
    argument: str
    article: int  # characters
    ours: int = 0
    resent: int = 0  # how many later model calls carry this result again


def tokens(chars: int) -> int:
    return -(-chars // 4)


def article_answer(root: Path, name: str, args: dict[str, Any]) -> str:
    """The article's tool result for this call, on the project as it is now."""
    path = str(args.get("path", ""))
    if name == "list_files":
        return "\n".join(str(p.relative_to(root)) for p in root.rglob("*.py"))
    if name == "read_file":
        return (root / path).read_text()
    if name == "search":
        return "".join(p.read_text() for p in sorted(root.rglob("*.py")))
    if name == "write_file":
        return f"wrote {len(str(args.get('content', '')))} chars to {path}"
    if name == "run_tests":
        return _article_tests(root)
    return ""  # edit_file: answered after the edit, from the file on disk


def _article_tests(root: Path) -> str:
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    out = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=120)
    return (out.stdout + out.stderr)[-ARTICLE_TAIL:]


async def measure() -> list[CallCost]:
    with tempfile.TemporaryDirectory(prefix="kimitui-bench-tokens-") as tmp:
        root = Path(tmp) / "sample"
        copy_sample(root)
        async with ScriptedServer(demo_turns()) as server:
            endpoint = Endpoint(server.base_url, "bench")
            agent = build_agent(Settings(max_steps=30), root, endpoint, AutoGate())
            costs = _Recorder(root.resolve())
            agent.subscribe(costs)
            await agent.run(DEMO_TASK)
            await agent.client.close()
        for call in costs.calls.values():
            call.resent = agent.budget.steps - call.step
        return list(costs.calls.values())


class _Recorder:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.step = 0
        self.calls: dict[str, CallCost] = {}

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.StepStarted):
            self.step = event.n
        elif isinstance(event, ev.ToolCall):
            args = event.arguments if isinstance(event.arguments, dict) else {}
            answer = article_answer(self.root, event.name, args)
            key = str(args.get("path", ""))
            self.calls[event.id] = CallCost(self.step, event.name, key, len(answer))
        elif isinstance(event, ev.ToolOutput) and event.id in self.calls:
            call = self.calls[event.id]
            call.ours = len(event.output)
            if call.name == "edit_file":
                text = (self.root / call.argument).read_text()
                call.article = len(f"wrote {len(text)} chars to {call.argument}")


def token_case(_cfg: object) -> list[Row]:
    calls = asyncio.run(measure())
    ours, article = _totals(calls, resent=False)
    once = Row("tokens: demo tool results, once (chars/4)", "tok")
    once.add(ours, ours / max(article, 1))
    ours_r, article_r = _totals(calls, resent=True)
    again = Row("tokens: demo tool results, re-sent in later prompts", "tok")
    again.add(ours_r, ours_r / max(article_r, 1))
    base = Row("tokens: article's whole-file tools, once (baseline)", "tok")
    base.add(article)
    return [once, again, base]


def _totals(calls: list[CallCost], resent: bool) -> tuple[int, int]:
    weight = (lambda c: c.resent) if resent else (lambda c: 1)
    ours = sum(tokens(c.ours) * weight(c) for c in calls)
    return ours, sum(tokens(c.article) * weight(c) for c in calls)


def report() -> str:
    """The ``tokens`` mode: every call of the demo, then the totals."""
    calls = asyncio.run(measure())
    lines = ["| step | tool | path | kimitui tok | article tok | re-sent x |", "|" + " --- |" * 6]
    for c in calls:
        lines.append(
            f"| {c.step} | {c.name} | {c.argument} | {tokens(c.ours):,} | "
            f"{tokens(c.article):,} | {c.resent} |"
        )
    for label, resent in (("total, once", False), ("total, re-sent", True)):
        ours, article = _totals(calls, resent)
        lines.append(f"| | {label} | | {ours:,} | {article:,} | {ours / max(article, 1):.2f}x |")
    return "\n".join(lines)
