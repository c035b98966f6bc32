"""The Agent end to end: real tools on a temp project, the scripted server over HTTP."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from kimitui.config import Settings
from kimitui.core import events as ev
from kimitui.core.gate import AutoGate, Gate, NeverGate
from kimitui.core.loop import CUT_SHORT, INTERRUPTED_MARK, NOT_RUN, Agent
from kimitui.demo.script import ToolCallSpec, Turn, TurnSource
from kimitui.demo.server import ScriptedServer
from kimitui.wiring import Endpoint, build_agent

LONG_THOUGHT = "I am considering the structure of this module very carefully. " * 40


def call(name: str, args: dict | str | None = None) -> ToolCallSpec:
    return ToolCallSpec(name, {} if args is None else args)


def tool_messages(body: dict) -> list[dict]:
    return [m for m in body["messages"] if m["role"] == "tool"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "a.py").write_text("x = 1\n")
    return root


@asynccontextmanager
async def agent_for(
    project: Path,
    turns: Sequence[TurnSource],
    *,
    gate: Gate | None = None,
    tokens_per_second: float | None = None,
    **settings: Any,
) -> AsyncIterator[tuple[Agent, ScriptedServer, list[ev.Event]]]:
    async with ScriptedServer(turns, tokens_per_second=tokens_per_second) as server:
        agent = build_agent(
            Settings(**settings), project, Endpoint(server.base_url, "sk-test"), gate or AutoGate()
        )
        seen: list[ev.Event] = []
        agent.subscribe(seen.append)
        try:
            yield agent, server, seen
        finally:
            await agent.client.close()


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition, failing the test instead of hanging it."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


def on_first(kind: type[ev.Event], action: Callable[[], None]) -> Callable[[ev.Event], None]:
    fired = False

    def listener(event: ev.Event) -> None:
        nonlocal fired
        if isinstance(event, kind) and not fired:
            fired = True
            action()

    return listener


async def test_read_write_finish_with_auto_approval(project: Path) -> None:
    turns = [
        Turn(reasoning="Look first.", tool_calls=(call("read_file", {"path": "a.py"}),)),
        Turn(
            reasoning="Now change it.",
            tool_calls=(call("write_file", {"path": "a.py", "content": "x = 2\n"}),),
        ),
        Turn(reasoning="Done.", content="Changed x to 2."),
    ]
    async with agent_for(project, turns) as (agent, server, seen):
        done = await agent.run("set x to 2")
    assert done == ev.Done("finished", "Changed x to 2.")
    assert (project / "a.py").read_text() == "x = 2\n"
    assert server.errors == []
    types = [e.type for e in seen if not e.streaming and e.type != "state"]
    assert types[:3] == ["session", "user_message", "step"]
    assert [t for t in types if t in ("edit", "decision", "tool_result")][1:] == [
        "edit",
        "decision",
        "tool_result",
    ]
    decision = next(e for e in seen if isinstance(e, ev.EditDecided))
    assert decision.verdict == "approved"
    usage = [e for e in seen if isinstance(e, ev.UsageReport)]
    assert len(usage) == 3 and usage[-1].session_total == sum(u.total for u in usage)


async def test_never_policy_leaves_files_and_tells_the_model(project: Path) -> None:
    turns = [
        Turn(tool_calls=(call("write_file", {"path": "a.py", "content": "x = 3\n"}),)),
        Turn(content="Understood, nothing changed."),
    ]
    async with agent_for(project, turns, gate=NeverGate()) as (agent, server, _):
        done = await agent.run("set x to 3")
    assert done.reason == "finished"
    assert (project / "a.py").read_text() == "x = 1\n"
    result = tool_messages(server.requests[1])[0]["content"]
    assert "rejected" in result.lower()


async def test_unknown_tool_and_malformed_arguments_become_tool_errors(project: Path) -> None:
    turns = [
        Turn(tool_calls=(call("delete_everything"), call("read_file", '{"path": "a.py"'))),
        Turn(content="I will stop guessing."),
    ]
    async with agent_for(project, turns) as (agent, server, seen):
        done = await agent.run("go")
    assert done.reason == "finished"
    results = tool_messages(server.requests[1])
    assert len(results) == 2
    assert all("error" in r["content"].lower() for r in results)
    assert [e.ok for e in seen if isinstance(e, ev.ToolOutput)] == [False, False]


def endless_reads(n: int = 50) -> list[Turn]:
    return [Turn(reasoning="Read again.", tool_calls=(call("read_file", {"path": "a.py"}),))] * n


async def test_max_steps_ends_with_max_steps(project: Path) -> None:
    async with agent_for(project, endless_reads(), max_steps=3) as (agent, server, _):
        done = await agent.run("loop forever")
    assert done.reason == "max_steps"
    assert "--max-steps" in done.message
    assert len(server.requests) == 3
    # The last assistant turn's tool call was answered: the history stays valid.
    assert agent.messages[-1]["role"] == "tool"


async def test_token_budget_ends_with_token_budget(project: Path) -> None:
    async with agent_for(project, endless_reads(), token_budget=500) as (agent, server, _):
        done = await agent.run("loop forever")
    assert done.reason == "token_budget"
    assert agent.budget.used.total >= 500
    assert 1 <= len(server.requests) < 50


async def test_time_budget_ends_with_time_budget(project: Path) -> None:
    slow = [Turn(reasoning=LONG_THOUGHT[:400], tool_calls=(call("list_files"),))] * 50
    async with agent_for(project, slow, tokens_per_second=400, time_budget=0.5) as (
        agent,
        server,
        _,
    ):
        done = await agent.run("loop forever")
    assert done.reason == "time_budget"
    assert len(server.requests) <= 3


async def test_steer_reaches_the_model_after_the_tool_results(project: Path) -> None:
    def expects_steer(body: dict) -> str | None:
        roles = [m["role"] for m in body["messages"]]
        if body["messages"][-1] != {"role": "user", "content": "use tabs, please"}:
            return f"steer missing at the end: {roles}"
        return None

    turns = [
        Turn(reasoning=LONG_THOUGHT[:300], tool_calls=(call("read_file", {"path": "a.py"}),)),
        Turn(content="Tabs it is.", expect=expects_steer),
    ]
    async with agent_for(project, turns, tokens_per_second=300) as (agent, server, seen):
        agent.subscribe(on_first(ev.ReasoningDelta, lambda: agent.steer("use tabs, please")))
        done = await agent.run("format a.py")
    assert done.reason == "finished", done.message
    assert server.errors == []
    steer = [e for e in seen if isinstance(e, ev.UserMessage) and e.kind == "steer"]
    assert [s.text for s in steer] == ["use tabs, please"]


async def test_interrupt_keeps_partial_text_and_waits_for_the_user(project: Path) -> None:
    turns = [
        Turn(reasoning=LONG_THOUGHT, content="never finished", tool_calls=(call("list_files"),)),
        Turn(content="Continuing as asked."),
    ]
    async with agent_for(project, turns, tokens_per_second=200) as (agent, server, seen):
        agent.subscribe(on_first(ev.ReasoningDelta, agent.interrupt))
        run = asyncio.create_task(agent.run("think a lot"))
        await until(lambda: agent.state == "waiting")
        assert len(server.requests) == 1
        agent.steer("stop thinking and answer")
        done = await run
    assert done.reason == "finished"
    second = server.requests[1]["messages"]
    partial, steer = second[-2], second[-1]
    assert partial["role"] == "assistant" and INTERRUPTED_MARK in partial["content"]
    assert "tool_calls" not in partial
    assert 0 < len(partial["reasoning_content"]) < len(LONG_THOUGHT)
    assert steer == {"role": "user", "content": "stop thinking and answer"}
    assert server.errors == []
    assert not any(isinstance(e, ev.ToolCall) for e in seen)


async def test_interrupt_during_tools_answers_every_call(project: Path) -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    turns = [
        Turn(tool_calls=(call("run_tests"), call("read_file", {"path": "a.py"}))),
        Turn(content="Fine, skipping the tests."),
    ]
    async with agent_for(project, turns, test_command=sleeper) as (agent, server, _seen):
        agent.subscribe(on_first(ev.ToolCall, agent.interrupt))
        run = asyncio.create_task(agent.run("test it"))
        await until(lambda: agent.state == "waiting")
        agent.steer("skip the tests")
        done = await asyncio.wait_for(run, timeout=20)
    assert done.reason == "finished"
    messages = server.requests[1]["messages"]
    assert [m["content"] for m in tool_messages(server.requests[1])] == [CUT_SHORT, NOT_RUN]
    assert messages[-1] == {"role": "user", "content": "skip the tests"}
    assert server.errors == []


async def test_pause_holds_the_next_request_until_resume(project: Path) -> None:
    turns = [Turn(tool_calls=(call("list_files"),)), Turn(content="listed")]
    async with agent_for(project, turns) as (agent, server, _):
        agent.subscribe(on_first(ev.ToolCall, agent.pause))
        run = asyncio.create_task(agent.run("list"))
        await until(lambda: agent.state == "paused")
        await asyncio.sleep(0.3)
        assert len(server.requests) == 1
        agent.resume()
        done = await asyncio.wait_for(run, timeout=10)
    assert done.reason == "finished"
    assert len(server.requests) == 2


async def test_queued_message_is_delivered_after_the_turn_ends(project: Path) -> None:
    def expects_queued(body: dict) -> str | None:
        last = body["messages"][-1]
        return None if last == {"role": "user", "content": "now add a docstring"} else str(last)

    turns = [
        Turn(tool_calls=(call("list_files"),)),
        Turn(content="Listed the files."),
        Turn(content="Docstring noted.", expect=expects_queued),
    ]
    async with agent_for(project, turns) as (agent, server, _):
        agent.subscribe(on_first(ev.StepStarted, lambda: agent.queue("now add a docstring")))
        done = await agent.run("list")
    assert done == ev.Done("finished", "Docstring noted.")
    # Queued: not delivered before the model's second step, only after it finished.
    assert server.requests[1]["messages"][-1]["role"] == "tool"
    assert server.errors == []


async def test_stop_ends_the_run_as_interrupted(project: Path) -> None:
    turns = [Turn(reasoning=LONG_THOUGHT, content="x")]
    async with agent_for(project, turns, tokens_per_second=200) as (agent, _, _seen):
        agent.subscribe(on_first(ev.ReasoningDelta, agent.stop))
        done = await asyncio.wait_for(agent.run("go"), timeout=10)
    assert done.reason == "interrupted"
    assert agent.state == "done"
