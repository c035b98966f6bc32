"""The published mcp-server-git (installed by the test extras) on a temp repository."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kimitui.core.gate import AskGate, NeverGate
from kimitui.demo.script import ToolCallSpec, Turn
from kimitui.mcp.config import ServerConfig
from tests.test_mcp import START, mcp_agent, offered, statuses, tool_messages, until

SERVER = shutil.which("mcp-server-git", path=str(Path(sys.executable).parent))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git = ["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=T"]
    subprocess.run([*git, "init", "-q"], check=True)
    (root / "app.py").write_text("print('hi')\n")
    subprocess.run([*git, "add", "app.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "first commit"], check=True)
    (root / "new.py").write_text("x = 1\n")
    return root


def git_server(repo: Path) -> ServerConfig:
    assert SERVER, "mcp-server-git is in the test extras"
    return ServerConfig("git", command=SERVER, args=("--repository", str(repo)), timeout=START)


async def test_git_status_reaches_the_model_and_writes_are_refused_under_never(
    repo: Path,
) -> None:
    turns = [
        Turn(tool_calls=(ToolCallSpec("mcp__git__git_status", {"repo_path": str(repo)}),)),
        Turn(tool_calls=(ToolCallSpec("mcp__git__git_log", {"repo_path": str(repo)}),)),
        Turn(
            tool_calls=(
                ToolCallSpec("mcp__git__git_add", {"repo_path": str(repo), "files": ["new.py"]}),
            )
        ),
        Turn(content="Status read."),
    ]
    async with mcp_agent(repo, turns, [git_server(repo)], NeverGate()) as (agent, model, seen):
        done = await agent.run("what is the status?")
    assert done.reason == "finished", done
    tools = offered(model.requests[0])
    assert {"mcp__git__git_status", "mcp__git__git_commit", "mcp__git__git_log"} <= set(tools)
    assert any(s.status == "ready" and s.tools >= 10 for s in statuses(seen, "git"))
    status = tool_messages(model.requests[1])[0]["content"]
    assert "new.py" in status and "Untracked" in status
    assert "first commit" in tool_messages(model.requests[2])[-1]["content"]
    refused = tool_messages(model.requests[3])[-1]["content"]
    assert "--approve never" in refused
    staged = subprocess.run(
        ["git", "-C", str(repo), "diff", "--cached", "--name-only"], capture_output=True, text=True
    )
    assert staged.stdout == ""


async def test_git_commit_waits_at_the_gate_and_a_refusal_reaches_the_model(repo: Path) -> None:
    gate = AskGate()
    commit = ToolCallSpec("mcp__git__git_commit", {"repo_path": str(repo), "message": "wip"})
    turns = [Turn(tool_calls=(commit,)), Turn(content="Not committed.")]
    async with mcp_agent(repo, turns, [git_server(repo)], gate) as (agent, model, _):
        run = asyncio.create_task(agent.run("commit"))
        await until(lambda: bool(gate.mcp_reviews))
        request = gate.mcp_reviews[0].request
        assert (request.server, request.tool) == ("git", "git_commit")
        assert '"message": "wip"' in request.arguments
        gate.decide_mcp(request.call_id, "do not commit yet")
        done = await asyncio.wait_for(run, START)
    assert done.reason == "finished"
    answer = tool_messages(model.requests[1])[0]["content"]
    assert "did not let mcp__git__git_commit run: do not commit yet" in answer
    log = subprocess.run(
        ["git", "-C", str(repo), "log", "--oneline"], capture_output=True, text=True
    )
    assert len(log.stdout.splitlines()) == 1
