"""MCP servers end to end: real servers built with the SDK (stdio in the sandbox, and
streamable HTTP on 127.0.0.1), the Agent over the scripted model server, the gate."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from kimitui.config import Settings
from kimitui.core import events as ev
from kimitui.core.gate import AskGate, AutoGate, Gate, NeverGate
from kimitui.core.loop import Agent
from kimitui.demo.script import ToolCallSpec, Turn
from kimitui.demo.server import ScriptedServer
from kimitui.mcp.config import ServerConfig
from kimitui.wiring import Endpoint, build_agent
from tests.proctools import running, wait_gone, wait_running

SERVER = str(Path(__file__).with_name("mcp_servers.py"))
START = 60.0  # generous: a loaded test machine starts Python in bwrap slowly


def stdio_server(name: str, mode: str = "ok", **extra: Any) -> tuple[ServerConfig, str]:
    """A stdio server config and the token that finds its process on the host."""
    token = f"mcp-test-{uuid.uuid4().hex[:12]}"
    extra.setdefault("timeout", START)
    return ServerConfig(name, command=sys.executable, args=(SERVER, mode, token), **extra), token


def tool_messages(body: dict) -> list[dict]:
    return [m for m in body["messages"] if m["role"] == "tool"]


def offered(body: dict) -> list[str]:
    return [t["function"]["name"] for t in body.get("tools", [])]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "a.py").write_text("x = 1\n")
    return root


@asynccontextmanager
async def mcp_agent(
    project: Path,
    turns: Sequence[Turn],
    servers: Sequence[ServerConfig],
    gate: Gate | None = None,
) -> AsyncIterator[tuple[Agent, ScriptedServer, list[ev.Event]]]:
    async with ScriptedServer(turns) as model:
        settings = Settings(mcp_servers=list(servers))
        agent = build_agent(
            settings, project, Endpoint(model.base_url, "sk-test"), gate or AutoGate()
        )
        seen: list[ev.Event] = []
        agent.subscribe(seen.append)
        try:
            yield agent, model, seen
        finally:
            await agent.toolbox.aclose()
            await agent.client.close()


def statuses(seen: list[ev.Event], server: str) -> list[ev.McpStatus]:
    return [e for e in seen if isinstance(e, ev.McpStatus) and e.server == server]


# -- stdio: tools offered from step 1, a read-only call reaching the model --------------


async def test_read_only_call_reaches_the_model(project: Path) -> None:
    cfg, token = stdio_server("t")
    turns = [
        Turn(tool_calls=(ToolCallSpec("mcp__t__shout", {"text": "hello"}),)),
        Turn(content="It said HELLO."),
    ]
    async with mcp_agent(project, turns, [cfg], NeverGate()) as (agent, model, seen):
        done = await agent.run("shout hello")
        assert wait_running(token), "the server should still run until the session ends"
    assert wait_gone(token), "the server's process outlived the session"
    assert done.reason == "finished", done
    assert model.errors == []
    first = offered(model.requests[0])
    assert {"mcp__t__shout", "mcp__t__write_note", "read_file"} <= set(first)
    result = tool_messages(model.requests[1])[0]["content"]
    assert result == "HELLO"
    ready = statuses(seen, "t")
    assert [s.status for s in ready][-2:] == ["ready", "stopped"] or ready[-1].status == "ready"
    assert any(s.status == "ready" and s.tools == 7 for s in ready)


# -- the gate --------------------------------------------------------------------------

WRITE = ToolCallSpec("mcp__t__write_note", {"name": "note.txt", "text": "hi"})


async def test_writing_call_refused_under_never(project: Path) -> None:
    cfg, _ = stdio_server("t", allow=("write_note",))  # allow does not beat never
    turns = [Turn(tool_calls=(WRITE,)), Turn(content="ok")]
    async with mcp_agent(project, turns, [cfg], NeverGate()) as (agent, model, _):
        done = await agent.run("write a note")
    assert done.reason == "finished"
    assert not (project / "note.txt").exists()
    result = tool_messages(model.requests[1])[0]["content"]
    assert "--approve never" in result and "read-only" in result


async def test_writing_call_runs_when_allowed(project: Path) -> None:
    cfg, _ = stdio_server("t", allow=("write_note",))
    gate = AskGate()
    turns = [Turn(tool_calls=(WRITE,)), Turn(content="ok")]
    async with mcp_agent(project, turns, [cfg], gate) as (agent, model, _):
        done = await asyncio.wait_for(agent.run("write a note"), START)
    assert done.reason == "finished"
    assert gate.mcp_reviews == []
    assert (project / "note.txt").read_text() == "hi"
    assert "wrote 2 characters" in tool_messages(model.requests[1])[0]["content"]


async def test_writing_call_waits_at_the_gate_under_ask(project: Path) -> None:
    cfg, _ = stdio_server("t")
    gate = AskGate()
    turns = [Turn(tool_calls=(WRITE,)), Turn(tool_calls=(WRITE,)), Turn(content="ok")]
    async with mcp_agent(project, turns, [cfg], gate) as (agent, model, _):
        run = asyncio.create_task(agent.run("write a note"))
        await until(lambda: bool(gate.mcp_reviews))
        request = gate.mcp_reviews[0].request
        assert (request.server, request.tool) == ("t", "write_note")
        assert '"name": "note.txt"' in request.arguments  # formatted JSON
        assert not (project / "note.txt").exists()  # still waiting
        gate.decide_mcp(request.call_id, "call it notes.md instead")
        await until(lambda: bool(gate.mcp_reviews) and gate.mcp_reviews[0].request is not request)
        gate.decide_mcp(gate.mcp_reviews[0].request.call_id, None)
        done = await asyncio.wait_for(run, START)
    assert done.reason == "finished"
    refused = tool_messages(model.requests[1])[0]["content"]
    assert "did not let mcp__t__write_note run: call it notes.md instead" in refused
    assert (project / "note.txt").read_text() == "hi"  # the second one was approved


async def until(predicate: Any, timeout: float = START) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


# -- broken servers: reported, and the run goes on -------------------------------------


async def test_crash_hang_and_death_mid_call_are_reported(project: Path) -> None:
    good, good_token = stdio_server("t")
    crash, crash_token = stdio_server("crash", "crash")
    hang, hang_token = stdio_server("hang", "hang", timeout=3.0)
    turns = [
        Turn(tool_calls=(ToolCallSpec("mcp__t__die", {}),)),
        Turn(tool_calls=(ToolCallSpec("mcp__t__shout", {"text": "x"}),)),
        Turn(tool_calls=(ToolCallSpec("mcp__hang__shout", {"text": "x"}),)),
        Turn(content="Carried on."),
    ]
    servers = [good, crash, hang]
    async with mcp_agent(project, turns, servers, AutoGate()) as (agent, model, seen):
        done = await agent.run("try the tools")
        crashed = statuses(seen, "crash")[-1]
        hung = statuses(seen, "hang")[-1]
        died = statuses(seen, "t")[-1]
    assert done == ev.Done("finished", "Carried on.")
    assert crashed.status == "failed" and "crashing on purpose" in crashed.error
    assert hung.status == "failed" and "no answer in 3 s" in hung.error
    assert died.status == "exited"
    assert "mcp__crash__shout" not in offered(model.requests[0])
    results = [tool_messages(model.requests[i])[-1]["content"] for i in (1, 2, 3)]
    assert results[0].startswith("error: mcp__t__die failed")
    assert results[1].startswith("error: MCP server 't' is not running")
    assert results[2].startswith("error: unknown MCP tool 'mcp__hang__shout'")
    for token in (good_token, crash_token, hang_token):
        assert wait_gone(token), f"a server process ({token}) is left running"


async def test_slow_call_times_out_and_the_server_is_stopped_at_exit(project: Path) -> None:
    cfg, token = stdio_server("t", tool_timeout=1.0)
    turns = [Turn(tool_calls=(ToolCallSpec("mcp__t__nap", {"seconds": 30}),)), Turn(content="k")]
    async with mcp_agent(project, turns, [cfg], AutoGate()) as (agent, model, _):
        done = await agent.run("nap")
        assert running(token)
    assert done.reason == "finished"
    result = tool_messages(model.requests[1])[0]["content"]
    assert result.startswith("error:") and "nap" in result
    assert wait_gone(token)


# -- confinement -----------------------------------------------------------------------


async def test_a_stdio_server_cannot_write_outside_the_project(
    project: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    cfg, _ = stdio_server("t", allow=("write_anywhere",))
    call = ToolCallSpec("mcp__t__write_anywhere", {"path": str(outside), "text": "pwned"})
    inside = ToolCallSpec(
        "mcp__t__write_anywhere", {"path": str(project / "in.txt"), "text": "fine"}
    )
    turns = [Turn(tool_calls=(call, inside)), Turn(content="done")]
    async with mcp_agent(project, turns, [cfg], AutoGate()) as (agent, _, seen):
        await agent.run("write")
    started = next(e for e in seen if isinstance(e, ev.SessionStarted))
    assert started.sandbox != "none", "this machine should give a sandbox (see DESIGN.md)"
    assert not outside.exists()
    assert (project / "in.txt").read_text() == "fine"


async def test_the_server_sees_the_user_env_but_not_the_api_key(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOONSHOT_API_KEY", "sk-secret-key-value-123")
    monkeypatch.setenv("MY_TOKEN_FOR_MCP", "tok-abc")
    cfg, _ = stdio_server("t", env={"GIVEN": "$MY_TOKEN_FOR_MCP"})
    read_env = ToolCallSpec("mcp__t__env", {})
    turns = [Turn(tool_calls=(read_env,)), Turn(content="k")]
    async with mcp_agent(project, turns, [cfg], NeverGate()) as (agent, model, _):
        await agent.run("env")
    shown = tool_messages(model.requests[1])[0]["content"]
    assert "GIVEN=tok-abc" in shown
    assert "sk-secret-key-value-123" not in shown
    assert "MY_TOKEN_FOR_MCP" not in shown


# -- streamable HTTP -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def http_server() -> Any:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, SERVER, "http", "http-test", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = START
        while deadline > 0:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                import time

                time.sleep(0.1)
                deadline -= 0.1
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(10)


async def test_streamable_http_server(project: Path, http_server: str) -> None:
    cfg = ServerConfig("web", url=http_server, headers={"X-Test": "yes"}, timeout=START)
    turns = [
        Turn(tool_calls=(ToolCallSpec("mcp__web__shout", {"text": "over http"}),)),
        Turn(tool_calls=(ToolCallSpec("mcp__web__write_note", {"name": "n", "text": "x"}),)),
        Turn(content="ok"),
    ]
    async with mcp_agent(project, turns, [cfg], NeverGate()) as (agent, model, seen):
        done = await agent.run("shout")
    assert done.reason == "finished"
    assert "mcp__web__shout" in offered(model.requests[0])
    assert tool_messages(model.requests[1])[0]["content"] == "OVER HTTP"
    assert "--approve never" in tool_messages(model.requests[2])[-1]["content"]
    assert any(s.status == "ready" and s.tools >= 5 for s in statuses(seen, "web"))


# -- the whole program: headless JSONL, and no server left after exit --------------------


def test_headless_reports_mcp_events_and_leaves_no_server(tmp_path: Path) -> None:
    import json

    token = f"mcp-test-{uuid.uuid4().hex[:12]}"
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[mcp.servers.t]
command = {json.dumps(sys.executable)}
args = [{json.dumps(SERVER)}, "ok", "{token}"]
timeout = {START}

[mcp.servers.broken]
command = {json.dumps(sys.executable)}
args = [{json.dumps(SERVER)}, "crash", "{token}"]
""",
        encoding="utf-8",
    )
    env = {**os.environ, "KIMITUI_CONFIG": str(config), "KIMITUI_STATE_DIR": str(tmp_path / "s")}
    done = subprocess.run(
        [sys.executable, "-m", "kimitui", str(tmp_path / "demo"), "--demo", "--headless",
         "--json", "--approve", "never", "--max-steps", "2"],
        capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip
    events = [json.loads(line) for line in done.stdout.splitlines()]
    mcp = [e for e in events if e["type"] == "mcp"]
    assert {"type": "mcp", "server": "t", "status": "ready", "tools": 7, "error": ""} in mcp
    broken = [e for e in mcp if e["server"] == "broken"][-1]
    assert broken["status"] == "failed" and "crashing on purpose" in broken["error"]
    first_step = next(i for i, e in enumerate(events) if e["type"] == "step")
    assert any(e["type"] == "mcp" and e["status"] == "ready" for e in events[:first_step])
    assert not running(token), "an MCP server outlived kimitui"


async def test_writing_call_refused_under_auto_unless_allowed(project: Path) -> None:
    cfg, _ = stdio_server("t")
    turns = [Turn(tool_calls=(WRITE,)), Turn(content="ok")]
    async with mcp_agent(project, turns, [cfg], AutoGate()) as (agent, model, _):
        done = await agent.run("write a note")
    assert done.reason == "finished"
    assert not (project / "note.txt").exists()
    result = tool_messages(model.requests[1])[0]["content"]
    assert "nobody can be asked" in result and 'allow = ["write_note"]' in result


async def test_the_project_is_the_only_root(project: Path) -> None:
    cfg, _ = stdio_server("t")
    turns = [Turn(tool_calls=(ToolCallSpec("mcp__t__roots", {}),)), Turn(content="k")]
    async with mcp_agent(project, turns, [cfg], NeverGate()) as (agent, model, _):
        await agent.run("roots")
    assert tool_messages(model.requests[1])[0]["content"] == project.resolve().as_uri()


async def test_no_sandbox_and_never_starts_no_program(project: Path) -> None:
    cfg, token = stdio_server("t")
    async with ScriptedServer([Turn(content="k")]) as model:
        settings = Settings(mcp_servers=[cfg], sandbox_mechanism="none")
        agent = build_agent(settings, project, Endpoint(model.base_url, "sk"), NeverGate())
        seen: list[ev.Event] = []
        agent.subscribe(seen.append)
        try:
            await agent.run("hi")
        finally:
            await agent.toolbox.aclose()
            await agent.client.close()
    failed = statuses(seen, "t")[-1]
    assert failed.status == "failed" and "no sandbox" in failed.error
    assert not running(token)
    assert not any(name.startswith("mcp__") for name in offered(model.requests[0]))
