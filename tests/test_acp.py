"""`kimitui acp` driven by a client built on the ACP SDK's client side.

Each test starts `python -m kimitui acp PROJECT --demo` as a real process and
talks to it over its stdin/stdout: the scripted demo model on loopback, real
files in a temp dir, real permission requests answered by the test's client.
Every byte the process writes to stdout is kept, to check it is all JSON-RPC.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from acp import (
    PROTOCOL_VERSION,
    RequestError,
    connect_to_agent,
    text_block,
    update_agent_message_text,
    update_agent_thought_text,
    update_tool_call,
)
from acp.client.connection import ClientSideConnection
from acp.schema import (
    AllowedOutcome,
    ClientCapabilities,
    DeniedOutcome,
    FileEditToolCallContent,
    Implementation,
    McpServerStdio,
    PermissionOption,
    PromptResponse,
    RequestPermissionResponse,
    ToolCallUpdate,
)
from test_git_tools import git, make_repo

from kimitui.acp.gate import AcpGate
from kimitui.acp.updates import LiveUpdates, Outbox, locations
from kimitui.core import events as ev
from kimitui.core.budget import Budget
from kimitui.core.gate import McpRequest
from kimitui.demo import DEMO_TASK, sample_files
from kimitui.demo.refactored import LOGIC_PY, MODELS_PY
from kimitui.demo.script import ToolCallSpec, Turn
from kimitui.demo.server import ScriptedServer
from kimitui.tools.confine import RunRequest

TIMEOUT = 120.0
MCP_SERVER = str(Path(__file__).with_name("mcp_servers.py"))
STDOUT_LIMIT = 50 * 1024 * 1024

# Decides a permission request: the option id to pick, or None to cancel it.
Policy = Callable[[ToolCallUpdate, list[PermissionOption]], str | None]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "KEY" not in k and not k.startswith("KIMITUI")}
    env["KIMITUI_CONFIG"] = "/nonexistent/kimitui-config.toml"
    env["KIMITUI_STATE_DIR"] = os.environ["KIMITUI_STATE_DIR"]  # the test's own (conftest)
    env.update(extra)
    return env


def pick(kind: str) -> Policy:
    """Always the option of ``kind`` (allow_always, reject_once, ...)."""

    def decide(call: ToolCallUpdate, options: list[PermissionOption]) -> str | None:
        return next(o.option_id for o in options if o.kind == kind)

    return decide


def allow_all_but(*rejected: str) -> Policy:
    """Allow once, except an edit of a file named in ``rejected``."""

    def decide(call: ToolCallUpdate, options: list[PermissionOption]) -> str | None:
        ids = {o.option_id: o.kind for o in options}
        where = [loc.path for loc in call.locations or []]
        if any(Path(p).name in rejected for p in where):
            return next(i for i, kind in ids.items() if kind == "reject_once")
        return next(i for i, kind in ids.items() if kind == "allow_once")

    return decide


@dataclass
class RecordingClient:
    """The editor's side: records every update and permission request, in order."""

    policy: Policy
    log: list[tuple[str, Any]] = field(default_factory=list)  # ("update"|"permission", ...)
    # Called before a permission is answered, e.g. to cancel the prompt meanwhile.
    on_permission: Callable[[], Awaitable[None]] | None = None

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        self.log.append(("update", update))

    async def request_permission(
        self,
        session_id: str,
        tool_call: ToolCallUpdate,
        options: list[PermissionOption],
        **kwargs: Any,
    ) -> RequestPermissionResponse:
        self.log.append(("permission", tool_call))
        if self.on_permission is not None:
            await self.on_permission()
        choice = self.policy(tool_call, options)
        if choice is None:  # as an editor answers once it has sent session/cancel
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        return RequestPermissionResponse(
            outcome=AllowedOutcome(outcome="selected", option_id=choice)
        )

    async def write_text_file(self, **kwargs: Any) -> None:
        raise RequestError(-32601, "kimitui must write through its own workspace")

    async def read_text_file(self, **kwargs: Any) -> None:
        raise RequestError(-32601, "not offered")

    # -- what the log holds --------------------------------------------------------

    @property
    def updates(self) -> list[Any]:
        return [u for kind, u in self.log if kind == "update"]

    def of(self, kind: str) -> list[Any]:
        return [u for u in self.updates if u.session_update == kind]

    def for_call(self, call_id: str) -> list[Any]:
        return [u for u in self.updates if getattr(u, "tool_call_id", None) == call_id]

    def text(self, kind: str) -> str:
        return "".join(u.content.text for u in self.of(kind))


@dataclass
class Agent:
    conn: ClientSideConnection
    proc: asyncio.subprocess.Process
    stdout: list[bytes]  # every line the process wrote to stdout


@asynccontextmanager
async def kimitui_acp(
    project: Path,
    client: RecordingClient,
    tmp_path: Path,
    *args: str,
    **env: str,
) -> AsyncIterator[Agent]:
    """`kimitui acp PROJECT ARGS` (default --demo), connected through the SDK's client side."""
    stderr = (tmp_path / f"stderr-{len(list(tmp_path.glob('stderr-*')))}.txt").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kimitui",
        "acp",
        str(project),
        *(args or ("--demo",)),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        env=clean_env(**env),
        limit=STDOUT_LIMIT,
    )
    assert proc.stdin is not None and proc.stdout is not None
    lines: list[bytes] = []
    reader = asyncio.StreamReader(limit=STDOUT_LIMIT)

    async def tee(source: asyncio.StreamReader) -> None:
        while line := await source.readline():
            lines.append(line)
            reader.feed_data(line)
        reader.feed_eof()

    copying = asyncio.create_task(tee(proc.stdout))
    conn = connect_to_agent(client, proc.stdin, reader)
    try:
        yield Agent(conn, proc, lines)
    finally:
        proc.stdin.close()  # kimitui acp ends when stdin closes
        try:
            await asyncio.wait_for(proc.wait(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
            await conn.close()
            await copying
            stderr.close()


async def start(agent: Agent, cwd: Path) -> str:
    init = await agent.conn.initialize(
        protocol_version=PROTOCOL_VERSION,
        client_capabilities=ClientCapabilities(),
        client_info=Implementation(name="kimitui-tests", version="0"),
    )
    assert init.agent_capabilities is not None and init.agent_capabilities.load_session
    session = await agent.conn.new_session(cwd=str(cwd), mcp_servers=[])
    return session.session_id


async def one_prompt(
    model: ScriptedServer, project: Path, client: RecordingClient, tmp_path: Path, text: str
) -> PromptResponse:
    """A new session in ``project`` and one prompt to the end."""
    args = ("--base-url", model.base_url)
    async with kimitui_acp(project, client, tmp_path, *args, MOONSHOT_API_KEY="sk-t") as agent:
        session_id = await start(agent, project)
        return await asyncio.wait_for(
            agent.conn.prompt(session_id=session_id, prompt=[text_block(text)]), TIMEOUT
        )


def only_json_rpc(lines: list[bytes]) -> None:
    assert lines, "the agent wrote nothing"
    for line in lines:
        message = json.loads(line)
        assert message.get("jsonrpc") == "2.0", line[:200]


def first(items: list[Any], pred: Callable[[Any], bool]) -> int:
    return next(i for i, item in enumerate(items) if pred(item))


def edit_call(client: RecordingClient, name: str) -> str:
    """The tool call id of the write to ``name``."""
    starts = client.of("tool_call")
    return next(
        u.tool_call_id
        for u in starts
        if u.kind == "edit" and any(Path(loc.path).name == name for loc in u.locations or [])
    )


def untouched(project: Path) -> bool:
    """The sample as shipped, byte for byte, and no module of the split."""
    same = all((project / name).read_bytes() == data for name, data in sample_files().items())
    return same and not any((project / n).exists() for n in ("models.py", "logic.py"))


def statuses(client: RecordingClient, call_id: str) -> list[str]:
    return [u.status for u in client.for_call(call_id) if u.status]


# -- the tests ----------------------------------------------------------------------------


async def test_demo_refactor_end_to_end_then_load(tmp_path: Path) -> None:
    project = tmp_path / "demo"
    client = RecordingClient(allow_all_but("app.py"))
    original_app = sample_files()["app.py"]
    async with kimitui_acp(project, client, tmp_path) as agent:
        session_id = await start(agent, project)
        answer = await asyncio.wait_for(
            agent.conn.prompt(session_id=session_id, prompt=[text_block(DEMO_TASK)]), TIMEOUT
        )
    assert agent.proc.returncode == 0
    only_json_rpc(agent.stdout)
    assert answer.stop_reason == "end_turn"

    # The approved edits are on disk, the rejected one left app.py byte-identical.
    assert (project / "models.py").read_text() == MODELS_PY
    assert (project / "logic.py").read_text() == LOGIC_PY
    assert (project / "app.py").read_bytes() == original_app

    updates = client.updates
    thought = first(updates, lambda u: u.session_update == "agent_thought_chunk")
    message = first(updates, lambda u: u.session_update == "agent_message_chunk")
    assert thought < message
    assert "You rejected my edit to app.py" in client.text("agent_message_chunk")

    # Every tool call starts before any of its updates and ends completed or failed.
    for start_update in client.of("tool_call"):
        mine = client.for_call(start_update.tool_call_id)
        assert mine[0] is start_update and mine[0].status == "pending"
        assert mine[-1].status in ("completed", "failed")

    models = edit_call(client, "models.py")
    assert statuses(client, models) == ["pending", "pending", "in_progress", "completed"]
    diffs = [c for u in client.for_call(models) for c in u.content or [] if c.type == "diff"]
    assert diffs and isinstance(diffs[0], FileEditToolCallContent)
    assert diffs[0].old_text is None and diffs[0].new_text == MODELS_PY
    assert Path(diffs[0].path) == project.resolve() / "models.py"
    app = edit_call(client, "app.py")
    assert statuses(client, app)[-1] == "failed"
    app_diff = next(c for u in client.for_call(app) for c in u.content or [] if c.type == "diff")
    assert app_diff.old_text == original_app.decode()

    # One permission per edit, each after its tool call and its diff were sent.
    asked = [(i, call) for i, (kind, call) in enumerate(client.log) if kind == "permission"]
    assert [Path(c.locations[0].path).name for _, c in asked if c.kind == "edit"] == [
        "models.py",
        "logic.py",
        "app.py",
    ]
    for i, call in asked:
        before = [u for kind, u in client.log[:i] if kind == "update"]
        assert any(getattr(u, "tool_call_id", None) == call.tool_call_id for u in before)

    # Usage and budget ride along: a usage update, and the answer's _meta.
    usage = client.of("usage_update")
    assert usage and usage[-1].field_meta["kimitui"]["steps"] >= 6
    meta = answer.field_meta["kimitui"]
    assert meta["steps"] >= 6 and meta["tokens"]["total"] > 0
    assert meta["done"]["reason"] == "finished"
    assert answer.usage is not None and answer.usage.total_tokens == meta["tokens"]["total"]

    # A new process loads the saved session: the conversation replays, then goes on.
    again = RecordingClient(allow_all_but())
    async with kimitui_acp(project, again, tmp_path) as agent:
        await agent.conn.initialize(protocol_version=PROTOCOL_VERSION)
        await agent.conn.load_session(cwd=str(project), session_id=session_id, mcp_servers=[])
        replayed = len(again.updates)
        follow_up = await asyncio.wait_for(
            agent.conn.prompt(session_id=session_id, prompt=[text_block("Anything else?")]),
            TIMEOUT,
        )
    only_json_rpc(agent.stdout)
    assert again.updates[0].session_update == "user_message_chunk"
    assert again.updates[0].content.text == DEMO_TASK
    old_calls = {u.tool_call_id for u in client.of("tool_call")}
    assert {u.tool_call_id for u in again.of("tool_call")} == old_calls
    assert "You rejected my edit to app.py" in again.text("agent_message_chunk")
    assert follow_up.stop_reason == "end_turn"
    new_text = "".join(
        u.content.text
        for u in again.updates[replayed:]
        if u.session_update == "agent_message_chunk"
    )
    assert "only knows the one refactor" in new_text
    assert follow_up.field_meta["kimitui"]["steps"] > meta["steps"]


async def test_cancel_mid_stream(tmp_path: Path) -> None:
    project = tmp_path / "demo"
    client = RecordingClient(allow_all_but())
    # A slow scripted model, so the cancel surely lands while it streams.
    async with kimitui_acp(project, client, tmp_path, KIMITUI_DEMO_TPS="15") as agent:
        session_id = await start(agent, project)
        prompt = asyncio.create_task(
            agent.conn.prompt(session_id=session_id, prompt=[text_block(DEMO_TASK)])
        )
        for _ in range(600):
            if client.of("agent_thought_chunk"):
                break
            await asyncio.sleep(0.05)
        assert client.of("agent_thought_chunk"), "the model never started"
        await agent.conn.cancel(session_id=session_id)
        answer = await asyncio.wait_for(prompt, TIMEOUT)
    assert answer.stop_reason == "cancelled"
    assert not client.of("tool_call")  # cut mid-thought: no tool ran
    assert untouched(project)
    only_json_rpc(agent.stdout)


async def test_cwd_outside_the_project_is_refused(tmp_path: Path) -> None:
    project = tmp_path / "demo"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    client = RecordingClient(allow_all_but())
    async with kimitui_acp(project, client, tmp_path) as agent:
        await agent.conn.initialize(protocol_version=PROTOCOL_VERSION)
        with pytest.raises(RequestError) as refused:
            await agent.conn.new_session(cwd=str(elsewhere), mcp_servers=[])
        with pytest.raises(RequestError) as unknown:
            await agent.conn.load_session(cwd=str(project), session_id="nope", mcp_servers=[])
        # Inside the project is fine.
        inside = await agent.conn.new_session(cwd=str(project), mcp_servers=[])
    assert "no session 'nope'" in str(unknown.value)
    assert "outside the project" in str(refused.value)
    assert str(project.resolve()) in str(refused.value)
    assert inside.session_id
    only_json_rpc(agent.stdout)


def test_missing_api_key_is_said_on_stderr(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kimitui", "acp", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "no API key: set MOONSHOT_API_KEY" in proc.stderr


async def test_allow_always_applies_the_later_edits_without_asking(tmp_path: Path) -> None:
    project = tmp_path / "demo"
    client = RecordingClient(pick("allow_always"))
    async with kimitui_acp(project, client, tmp_path) as agent:
        session_id = await start(agent, project)
        answer = await asyncio.wait_for(
            agent.conn.prompt(session_id=session_id, prompt=[text_block(DEMO_TASK)]), TIMEOUT
        )
    assert answer.stop_reason == "end_turn"
    asked = [call for kind, call in client.log if kind == "permission"]
    assert [Path(c.locations[0].path).name for c in asked] == ["models.py"]
    assert [u.current_mode_id for u in client.of("current_mode_update")] == ["auto"]
    # Every edit of the refactor is on disk, each still shown to the editor as a diff.
    assert (project / "logic.py").read_text() == LOGIC_PY
    assert b"__all__" in (project / "app.py").read_bytes()
    for name in ("models.py", "logic.py", "app.py"):
        call_id = edit_call(client, name)
        assert any(c.type == "diff" for u in client.for_call(call_id) for c in u.content or [])
        assert statuses(client, call_id)[-1] == "completed"
    assert "5 passed" in client.text("agent_message_chunk")


async def test_cancel_while_a_permission_waits(tmp_path: Path) -> None:
    project = tmp_path / "demo"
    client = RecordingClient(lambda call, options: None)  # the editor withdraws the question
    async with kimitui_acp(project, client, tmp_path) as agent:
        session_id = await start(agent, project)

        async def cancel() -> None:
            await agent.conn.cancel(session_id=session_id)

        client.on_permission = cancel
        answer = await asyncio.wait_for(
            agent.conn.prompt(session_id=session_id, prompt=[text_block(DEMO_TASK)]), TIMEOUT
        )
        first_asked = sum(1 for kind, _ in client.log if kind == "permission")
        assert not (project / "models.py").exists()
        # The session goes on: the next prompt runs (every edit rejected now).
        client.on_permission, client.policy = None, pick("reject_once")
        again = await asyncio.wait_for(
            agent.conn.prompt(session_id=session_id, prompt=[text_block("go on")]), TIMEOUT
        )
    assert answer.stop_reason == "cancelled"
    assert first_asked == 1  # the run stopped at the first question
    asked = [call for kind, call in client.log if kind == "permission"]
    assert statuses(client, asked[0].tool_call_id)[-1] == "failed"
    assert untouched(project)
    assert again.stop_reason == "end_turn"
    assert "You rejected my edit" in client.text("agent_message_chunk")


async def test_mcp_servers_the_client_offers_are_added_and_asked_about(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    write = "mcp__notes__write_note"
    turns = [
        Turn(tool_calls=(ToolCallSpec(write, {"name": "yes.txt", "text": "hi"}),)),
        Turn(tool_calls=(ToolCallSpec(write, {"name": "no.txt", "text": "hi"}),)),
        Turn(reasoning="One note written, one refused.", content="Done."),
    ]

    def decide(call: ToolCallUpdate, options: list[PermissionOption]) -> str | None:
        text = "".join(c.content.text for c in call.content or [] if c.type == "content")
        return "allow_once" if "yes.txt" in text else "reject_once"

    client = RecordingClient(decide)
    server = McpServerStdio(
        name="notes", command=sys.executable, args=[MCP_SERVER, "ok", "acp-test"], env=[]
    )
    async with ScriptedServer(turns) as model:
        args = ("--base-url", model.base_url)
        async with kimitui_acp(project, client, tmp_path, *args, MOONSHOT_API_KEY="sk-t") as agent:
            await agent.conn.initialize(protocol_version=PROTOCOL_VERSION)
            session = await agent.conn.new_session(cwd=str(project), mcp_servers=[server])
            answer = await asyncio.wait_for(
                agent.conn.prompt(session_id=session.session_id, prompt=[text_block("notes")]),
                TIMEOUT,
            )
    assert answer.stop_reason == "end_turn"
    assert write in [t["function"]["name"] for t in model.requests[0]["tools"]]
    asked = [call for kind, call in client.log if kind == "permission"]
    assert [c.title for c in asked] == ["MCP notes.write_note"] * 2
    assert (project / "yes.txt").read_text() == "hi"
    assert not (project / "no.txt").exists()
    refused = model.requests[2]["messages"][-1]["content"]
    assert "declined" in refused
    calls = [u.tool_call_id for u in client.of("tool_call")]
    assert [statuses(client, c)[-1] for c in calls] == ["completed", "failed"]
    only_json_rpc(agent.stdout)


def test_only_the_protocol_reaches_stdout() -> None:
    """After take_stdio, a print and a child's output land on stderr, not in the protocol."""
    code = (
        "import os, subprocess, sys\n"
        "from kimitui.acp.stdio import take_stdio\n"
        "fds = take_stdio()\n"
        "print('stray print')\n"
        "subprocess.run(['echo', 'child output'])\n"
        'os.write(fds.write, b\'{"jsonrpc": "2.0"}\\n\')\n'
        "assert sys.stdin.read() == ''  # fd 0 is /dev/null: the requests stay the protocol's\n"
        "os.write(fds.write, os.read(fds.read, 100))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        input="request\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == '{"jsonrpc": "2.0"}\nrequest\n'
    assert "stray print" in proc.stderr and "child output" in proc.stderr


async def test_a_file_changed_while_its_question_waits(tmp_path: Path) -> None:
    """The user edits in the editor meanwhile: an edit that still fits is re-applied onto
    their change; one that no longer fits is not written, and the call fails."""
    project = tmp_path / "proj"
    project.mkdir()
    target = project / "a.py"
    target.write_text("x = 1\ny = 2\n")
    edit = "edit_file"
    turns = [
        Turn(
            tool_calls=(
                ToolCallSpec(edit, {"path": "a.py", "old_string": "x = 1", "new_string": "x = 10"}),
            )
        ),
        Turn(
            tool_calls=(
                ToolCallSpec(edit, {"path": "a.py", "old_string": "y = 2", "new_string": "y = 20"}),
            )
        ),
        Turn(content="ok"),
    ]
    users_changes = iter(["x = 1\ny = 2\nz = 3\n", "x = 10\ny = 3\nz = 3\n"])

    async def user_types() -> None:
        target.write_text(next(users_changes))

    client = RecordingClient(allow_all_but(), on_permission=user_types)
    async with ScriptedServer(turns) as model:
        answer = await one_prompt(model, project, client, tmp_path, "edit")
    assert answer.stop_reason == "end_turn"
    assert target.read_text() == "x = 10\ny = 3\nz = 3\n"
    first_call, second_call = (u.tool_call_id for u in client.of("tool_call"))
    assert statuses(client, first_call)[-1] == "completed"
    assert statuses(client, second_call)[-1] == "failed"
    # The re-applied edit was shown again, on the content the user left.
    shown = [c for u in client.for_call(first_call) for c in u.content or [] if c.type == "diff"]
    assert shown[-1].old_text == "x = 1\ny = 2\nz = 3\n"
    assert shown[-1].new_text == "x = 10\ny = 2\nz = 3\n"
    told = model.requests[2]["messages"][-1]["content"]
    assert "NOT applied" in told and "modified" in told


async def test_text_chunks_queued_behind_a_slow_client_are_merged() -> None:
    """A model streaming one character per event costs a few updates, not one each."""
    sent: list[Any] = []
    reading = asyncio.Event()

    async def slow_send(update: Any) -> None:
        await reading.wait()  # the client reads nothing until the whole answer is queued
        sent.append(update)

    outbox = Outbox(slow_send)
    text = "x" * 100_000
    outbox.put(update_tool_call("call_1", status="in_progress"))
    for char in text:
        outbox.put(update_agent_thought_text(char))
    outbox.put(update_agent_message_text("done"))
    await asyncio.sleep(0)
    reading.set()
    await outbox.flush()
    await outbox.aclose()
    thoughts = [u for u in sent if u.session_update == "agent_thought_chunk"]
    assert "".join(u.content.text for u in thoughts) == text
    assert len(thoughts) <= 3  # 64 KiB at most in one chunk
    assert sent[0].session_update == "tool_call_update"
    assert sent[-1].content.text == "done"  # order kept across kinds


def test_a_path_outside_the_project_is_not_offered_to_the_editor(tmp_path: Path) -> None:
    assert locations(tmp_path, {"path": "src/a.py"})[0].path == str(tmp_path / "src" / "a.py")
    for path in ("../secret.txt", "/etc/passwd", "a/../../x", "nul\x00byte", ""):
        assert locations(tmp_path, {"path": path}) is None, path


def test_requests_from_a_file_and_answers_to_a_file(tmp_path: Path) -> None:
    """Not only pipes: `kimitui acp < requests.jsonl > answers.jsonl` answers, then ends."""
    requests = tmp_path / "requests.jsonl"
    answers = tmp_path / "answers.jsonl"
    hello = {"jsonrpc": "2.0", "id": 7, "method": "initialize", "params": {"protocolVersion": 1}}
    requests.write_text(json.dumps(hello) + "\n")
    with requests.open("rb") as stdin, answers.open("wb") as stdout:
        proc = subprocess.run(
            [sys.executable, "-m", "kimitui", "acp", str(tmp_path / "demo"), "--demo"],
            stdin=stdin,
            stdout=stdout,
            stderr=subprocess.PIPE,
            timeout=60,
            env=clean_env(),
        )
    assert proc.returncode == 0, proc.stderr
    lines = answers.read_bytes().splitlines()
    only_json_rpc(lines)
    answer = json.loads(lines[0])
    assert answer["id"] == 7 and answer["result"]["agentCapabilities"]["loadSession"] is True


def test_what_the_user_must_know_is_said_in_the_conversation(tmp_path: Path) -> None:
    """Warnings, a failed MCP server and a budget running out reach the editor's thread;
    info notices and the model's whole texts (already streamed) do not."""
    live = LiveUpdates(tmp_path, Budget(), outbox=None)  # type: ignore[arg-type]
    said = [
        live.updates(ev.Notice("session not saved any more: disk full", level="warning")),
        live.updates(ev.McpStatus("git", "failed", error="exited")),
        live.updates(ev.Done("max_steps", "25 steps used")),
    ]
    texts = [u[0].content.text for u in said]
    assert "session not saved any more" in texts[0] and "[kimitui:" in texts[0]
    assert "MCP server git failed: exited" in texts[1]
    assert "25 steps used" in texts[2]
    quiet = [ev.Notice("resumed"), ev.Content("the answer"), ev.Reasoning("thought")]
    assert all(live.updates(e) == [] for e in [*quiet, ev.Done("finished", "the answer")])


async def test_max_steps_counts_per_prompt(tmp_path: Path) -> None:
    """A prompt that runs out of steps says so; "go on" gets the same number again."""
    project = tmp_path / "proj"
    project.mkdir()
    turns = [Turn(tool_calls=(ToolCallSpec("list_files", {}),)), Turn(content="all listed")]
    client = RecordingClient(allow_all_but())
    async with ScriptedServer(turns) as model:
        args = ("--base-url", model.base_url, "--max-steps", "1")
        async with kimitui_acp(project, client, tmp_path, *args, MOONSHOT_API_KEY="sk-t") as agent:
            session_id = await start(agent, project)
            first = await asyncio.wait_for(
                agent.conn.prompt(session_id=session_id, prompt=[text_block("list")]), TIMEOUT
            )
            said = client.text("agent_message_chunk")
            second = await asyncio.wait_for(
                agent.conn.prompt(session_id=session_id, prompt=[text_block("go on")]), TIMEOUT
            )
    assert first.stop_reason == "max_turn_requests"
    assert first.field_meta["kimitui"]["done"]["reason"] == "max_steps"
    assert "[kimitui: stopped:" in said
    assert second.stop_reason == "end_turn"
    assert client.text("agent_message_chunk").endswith("all listed")
    assert second.field_meta["kimitui"]["steps"] == 2


async def test_a_running_command_shows_its_output_as_it_comes(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    command = "echo first-line; sleep 1; echo second-line"
    turns = [
        Turn(tool_calls=(ToolCallSpec("run_command", {"command": command}),)),
        Turn(content="ran"),
    ]
    client = RecordingClient(allow_all_but())
    async with ScriptedServer(turns) as model:
        answer = await one_prompt(model, project, client, tmp_path, "run")
    assert answer.stop_reason == "end_turn"
    call_id = client.of("tool_call")[0].tool_call_id
    mine = client.for_call(call_id)
    live = [u for u in mine if u.field_meta and u.field_meta["kimitui"]["live_output"]]
    assert live, "no output was shown while the command ran"
    assert "first-line" in live[0].content[0].content.text
    assert live[0].status is None and mine.index(live[0]) < len(mine) - 1
    assert mine[-1].status == "completed"
    assert "second-line" in mine[-1].content[0].content.text


async def test_sigterm_ends_the_agent_cleanly(tmp_path: Path) -> None:
    project = tmp_path / "demo"
    client = RecordingClient(allow_all_but())
    async with kimitui_acp(project, client, tmp_path) as agent:
        await start(agent, project)
        agent.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(agent.proc.wait(), 30)
    assert code == 130
    only_json_rpc(agent.stdout)


async def test_a_commit_is_asked_every_time(tmp_path: Path) -> None:
    """git_commit asks the editor, with the diff; no "always" is offered for it."""
    project = make_repo(tmp_path / "repo")
    (project / "a.py").write_text("x = 10\n")
    commit = "git_commit"
    turns = [
        Turn(tool_calls=(ToolCallSpec(commit, {"message": "Refused", "paths": ["a.py"]}),)),
        Turn(tool_calls=(ToolCallSpec(commit, {"message": "Bump x", "paths": ["a.py"]}),)),
        Turn(content="committed"),
    ]
    kinds: list[list[str]] = []

    def decide(call: ToolCallUpdate, options: list[PermissionOption]) -> str | None:
        kinds.append([o.kind for o in options])
        return "reject_once" if "Refused" in (call.title or "") else "allow_once"

    client = RecordingClient(decide)
    async with ScriptedServer(turns) as model:
        answer = await one_prompt(model, project, client, tmp_path, "commit")
    assert answer.stop_reason == "end_turn"
    assert kinds == [["allow_once", "reject_once"]] * 2
    asked = [call for kind, call in client.log if kind == "permission"]
    assert "x = 10" in asked[1].content[0].content.text  # the diff being committed
    assert git(project, "log", "--format=%s").split("\n")[:-1] == ["Bump x", "first"]


async def test_the_gate_asks_once_remembers_always_and_withdraws(tmp_path: Path) -> None:
    """Each parked question is one request; "always" covers the next; a question the loop
    withdraws (the prompt was cancelled) cancels its request."""
    asked: list[str] = []
    answer = asyncio.Queue[str]()

    async def ask(call: ToolCallUpdate, options: list[PermissionOption]) -> str | None:
        asked.append(call.tool_call_id)
        return await answer.get()

    gate = AcpGate(tmp_path)
    gate.ask = ask

    run = RunRequest("c1", "run_tests", ("pytest",), str(tmp_path), "none")
    waiting = asyncio.create_task(gate.review_run(run))
    await asyncio.sleep(0.05)
    gate.set_auto(False)  # any other change of the gate while the question is open
    await answer.put("allow_always")
    assert await waiting is None
    assert await gate.review_run(replace(run, call_id="c2")) is None  # not asked: always
    assert asked == ["c1"]

    mcp = McpRequest("c3", "notes", "write_note", "{}")
    waiting = asyncio.create_task(gate.review_mcp(mcp))
    await asyncio.sleep(0.05)
    (request,) = [a.task for a in gate._asking.values()]
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    await asyncio.sleep(0)
    assert request.cancelled() and asked == ["c1", "c3"]


async def test_the_editors_mode_picker_switches_edit_approval(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    turns = [
        Turn(tool_calls=(ToolCallSpec("write_file", {"path": "a.txt", "content": "a\n"}),)),
        Turn(content="wrote a"),
        Turn(tool_calls=(ToolCallSpec("write_file", {"path": "b.txt", "content": "b\n"}),)),
        Turn(content="tried b"),
    ]
    client = RecordingClient(pick("reject_once"))
    async with ScriptedServer(turns) as model:
        args = ("--base-url", model.base_url)
        async with kimitui_acp(project, client, tmp_path, *args, MOONSHOT_API_KEY="sk-t") as agent:
            await agent.conn.initialize(protocol_version=PROTOCOL_VERSION)
            session = await agent.conn.new_session(cwd=str(project), mcp_servers=[])
            sid = session.session_id
            await agent.conn.set_session_mode(session_id=sid, mode_id="auto")
            await agent.conn.prompt(session_id=sid, prompt=[text_block("write a")])
            await agent.conn.set_session_mode(session_id=sid, mode_id="ask")
            await agent.conn.prompt(session_id=sid, prompt=[text_block("write b")])
            with pytest.raises(RequestError) as unknown:
                await agent.conn.set_session_mode(session_id=sid, mode_id="yolo")
    assert session.modes is not None and session.modes.current_mode_id == "ask"
    assert {m.id for m in session.modes.available_modes} == {"ask", "auto"}
    assert (project / "a.txt").read_text() == "a\n"  # applied without asking
    asked = [call for kind, call in client.log if kind == "permission"]
    assert [Path(c.locations[0].path).name for c in asked] == ["b.txt"]
    assert not (project / "b.txt").exists()  # asked again, and rejected
    assert "no mode 'yolo'" in str(unknown.value)
