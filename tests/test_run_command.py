"""run_command through the Agent, the scripted server over HTTP, the real sandbox
and the real gates; checkpoints and undo on real files."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from proctools import running, wait_gone
from test_sandbox import Listener

from kimitui.config import Settings
from kimitui.core import events as ev
from kimitui.core.checkpoints import Checkpoints
from kimitui.core.gate import AskGate, AutoGate, Gate, NeverGate
from kimitui.demo.script import ToolCallSpec, Turn
from kimitui.demo.server import ScriptedServer
from kimitui.sandbox import Sandbox
from kimitui.tools import Toolbox, Workspace
from kimitui.tools.commands import CommandPolicy
from kimitui.wiring import Endpoint, build_agent


def tree(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``root`` (not .git): mode and a hash of its bytes or link target."""
    out: dict[str, tuple[int, str]] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel == ".git" or rel.startswith(".git/"):
            continue
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            out[rel] = (st.st_mode, "link:" + os.readlink(path))
        elif stat.S_ISREG(st.st_mode):
            out[rel] = (st.st_mode, hashlib.sha256(path.read_bytes()).hexdigest())
    return out


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "src").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "src" / "app.py").write_text("def add(a, b):\n    return a + b\n")
    (root / "src" / "util.py").write_bytes(b"x = 1\r\n\x00binary\xff\n")
    (root / "run.sh").write_text("#!/bin/sh\necho run\n")
    (root / "run.sh").chmod(0o755)
    (root / "private.txt").write_text("mine\n")
    (root / "private.txt").chmod(0o600)
    (root / "link").symlink_to("src/app.py")
    (root / ".gitignore").write_text("build/\n")
    return root


def cmd(command: str, **extra: Any) -> Turn:
    return Turn(tool_calls=(ToolCallSpec("run_command", {"command": command, **extra}),))


async def run_agent(
    project: Path, turns: list[Turn], gate: Gate, agents: list | None = None, **settings: Any
) -> tuple[list[ev.Event], ScriptedServer]:
    seen: list[ev.Event] = []
    async with ScriptedServer([*turns, Turn(content="done")]) as server:
        agent = build_agent(Settings(**settings), project, Endpoint(server.base_url, "k"), gate)
        if agents is not None:
            agents.append(agent)
        agent.subscribe(seen.append)
        await agent.run("go")
        await agent.client.close()
    return seen, server


def outputs(seen: list[ev.Event]) -> list[str]:
    return [e.output for e in seen if isinstance(e, ev.ToolOutput)]


def tool_answers(server: ScriptedServer) -> list[str]:
    return [m["content"] for m in server.requests[-1]["messages"] if m["role"] == "tool"]


# -- the tool itself ------------------------------------------------------------------


async def test_exit_code_then_output_and_live_chunks(project: Path) -> None:
    box = Toolbox(Workspace(project))
    chunks: list[str] = []

    class Watch:
        def command(self, *a: Any) -> None: ...
        def output(self, call_id: str, text: str) -> None:
            chunks.append(text)

        def result(self, *a: Any) -> None: ...
        def decision(self, *a: Any) -> None: ...

    box.commands.observer = Watch()
    result = await box.call("c1", "run_command", {"command": "echo one; echo two >&2; exit 3"})
    assert not result.ok
    assert result.output == "exit code 3\n--- output ---\none\ntwo\n"
    assert "".join(chunks) == "one\ntwo\n"


async def test_long_output_keeps_the_tail(project: Path) -> None:
    box = Toolbox(Workspace(project))
    result = await box.call("c", "run_command", {"command": "seq 1 20000"})
    assert result.ok
    assert result.output.startswith("exit code 0\n--- last 6,000 of ")
    assert result.output.rstrip().endswith("\n20000")


async def test_timeout_is_capped_and_kills(project: Path) -> None:
    box = Toolbox(Workspace(project), command_timeout=1)
    started = time.monotonic()
    result = await box.call("c", "run_command", {"command": "sleep 30", "timeout_s": 999})
    assert not result.ok
    assert result.output.startswith("(timeout_s 999 capped to 1 s)\ntimed out after 1 s")
    assert time.monotonic() - started < 25  # killed, not left to its 30 s


async def test_unparseable_and_denied_are_refused_with_a_reason(project: Path) -> None:
    box = Toolbox(Workspace(project), command_policy=CommandPolicy.from_config([], ["curl"]))
    bad = await box.call("c", "run_command", {"command": "echo 'oops"})
    assert bad.output.startswith("error: run_command cannot read this command safely: unclosed")
    denied = await box.call("c", "run_command", {"command": "ls && /usr/bin/curl x"})
    assert "denied by [commands] deny ('curl')" in denied.output


async def test_secret_values_never_reach_the_model(project: Path) -> None:
    (project / ".env").write_text("TOKEN=sk_live_secret_value_123\n")
    # Landlock cannot hide the file; the value is redacted from what comes back.
    box = Toolbox(Workspace(project), sandbox=Sandbox(mechanism="landlock"))
    result = await box.call("c", "run_command", {"command": "cat .env; echo done"})
    assert "sk_live_secret_value_123" not in result.output
    assert "done" in result.output


# -- the gate, in every mode, through the Agent ---------------------------------------------


async def test_auto_runs_allowed_and_refuses_the_rest_headless(project: Path) -> None:
    before = tree(project)
    seen, server = await run_agent(
        project,
        [cmd("ls src"), cmd("ls src; rm -rf src"), cmd("rm src/app.py")],
        AutoGate(),
        command_allow=["ls"],
    )
    first, chained, rm = outputs(seen)
    assert first.startswith("exit code 0") and "app.py" in first
    assert "nobody is here to ask" in chained and "`rm -rf src` is not covered" in chained
    assert "nobody is here to ask" in rm and "rm" in rm
    assert tree(project) == before
    answers = tool_answers(server)
    assert answers[1] == chained  # the model is told why
    commands = [e for e in seen if isinstance(e, ev.CommandProposed)]
    assert [c.command for c in commands] == ["ls src", "ls src; rm -rf src", "rm src/app.py"]
    assert commands[1].flags == ["rm -r -f: src (2 files)"]
    assert commands[0].cwd == str(project.resolve())
    results = [e for e in seen if isinstance(e, ev.CommandFinished)]
    assert [r.exit for r in results] == [0]


async def test_never_runs_nothing_and_leaves_the_project_byte_identical(project: Path) -> None:
    before = tree(project)
    seen, _ = await run_agent(
        project,
        [cmd("ls"), cmd("rm -rf src"), cmd("echo x > private.txt")],
        NeverGate(),
        command_allow=["ls", "rm", "echo"],
    )
    for out in outputs(seen):
        assert "--approve never" in out and "no command runs" in out
    assert tree(project) == before
    assert not any(isinstance(e, ev.CommandFinished | ev.CheckpointTaken) for e in seen)


async def test_ask_waits_then_runs_on_yes(project: Path) -> None:
    gate = AskGate()
    task = asyncio.create_task(run_agent(project, [cmd("rm src/util.py")], gate))
    await until(lambda: bool(gate.run_reviews))
    request = gate.run_reviews[0].request
    assert request.tool == "run_command" and request.line == "rm src/util.py"
    assert request.flags == ("rm: src/util.py (1 file)",)
    assert request.sandbox in ("bwrap", "landlock")
    assert (project / "src" / "util.py").exists()  # still waiting
    gate.decide_run(request.call_id, None)
    seen, _ = await asyncio.wait_for(task, 30)
    assert outputs(seen)[0].startswith("exit code 0")
    assert not (project / "src" / "util.py").exists()


async def test_ask_no_with_feedback_reaches_the_model(project: Path) -> None:
    gate = AskGate()
    before = tree(project)
    task = asyncio.create_task(run_agent(project, [cmd("git clean -fdx")], gate))
    await until(lambda: bool(gate.run_reviews))
    gate.decide_run(gate.run_reviews[0].request.call_id, "never clean, list instead")
    _, server = await asyncio.wait_for(task, 30)
    assert tool_answers(server) == ["error: the command did not run: never clean, list instead"]
    assert tree(project) == before


async def test_ask_lets_allowed_commands_through_but_not_flagged_ones(project: Path) -> None:
    gate = AskGate(auto_approve=True)  # the TUI's auto: edits only
    task = asyncio.create_task(
        run_agent(project, [cmd("ls"), cmd("rm -f private.txt")], gate, command_allow=["ls", "rm"])
    )
    await until(lambda: bool(gate.run_reviews))
    request = gate.run_reviews[0].request
    assert request.line == "rm -f private.txt"  # ls ran without a question
    gate.decide_run(request.call_id, "no")
    seen, _ = await asyncio.wait_for(task, 30)
    assert outputs(seen)[0].startswith("exit code 0")
    assert (project / "private.txt").exists()


def decisions(seen: list[ev.Event]) -> list[tuple[str, str, str]]:
    return [
        (e.verdict, e.by, e.feedback)
        for e in seen
        if isinstance(e, ev.EditDecided) and e.kind == "command"
    ]


async def test_every_command_gets_a_decision_event_saying_who_decided(project: Path) -> None:
    seen, _ = await run_agent(
        project,
        [cmd("ls src"), cmd("rm -rf src"), cmd("curl http://x")],
        AutoGate(),
        command_allow=["ls"],
        command_deny=["curl"],
    )
    (ok, ok_by, _), (no, no_by, why), (denied, denied_by, deny_why) = decisions(seen)
    assert (ok, ok_by) == ("approved", "allow-list")
    assert (no, no_by) == ("rejected", "headless") and "nobody is here to ask" in why
    assert (denied, denied_by) == ("rejected", "deny") and "[commands] deny" in deny_why
    kinds = ev.CommandProposed | ev.EditDecided | ev.CommandFinished
    order = [type(e).__name__ for e in seen if isinstance(e, kinds)]
    # the proposal, then the gate's answer, then (only when it ran) the result
    assert order[:3] == ["CommandProposed", "EditDecided", "CommandFinished"]
    ids = [e.id for e in seen if isinstance(e, ev.CommandProposed)]
    assert ids == [e.id for e in seen if isinstance(e, ev.EditDecided)]
    assert all(e.path == str(project.resolve()) for e in seen if isinstance(e, ev.EditDecided))


async def test_decision_events_under_never_and_from_the_user(project: Path) -> None:
    seen, _ = await run_agent(project, [cmd("ls")], NeverGate(), command_allow=["ls"])
    assert [(v, by) for v, by, _ in decisions(seen)] == [("rejected", "never")]
    gate = AskGate()
    task = asyncio.create_task(run_agent(project, [cmd("rm -f a"), cmd("rm -f b")], gate))
    for answer in (None, "keep b"):
        await until(lambda: bool(gate.run_reviews) and not gate.run_reviews[0].future.done())
        gate.decide_run(gate.run_reviews[0].request.call_id, answer)
    seen, _ = await asyncio.wait_for(task, 30)
    assert decisions(seen) == [("approved", "user", ""), ("rejected", "user", "keep b")]


async def test_session_allow_covers_the_prefix_from_then_on(project: Path) -> None:
    gate = AskGate()
    turns = [cmd("ruff --version || true"), cmd("wc -l src/app.py"), cmd("wc -c src/app.py")]
    agents: list = []
    task = asyncio.create_task(run_agent(project, turns, gate, agents))
    await until(lambda: bool(gate.run_reviews))
    first = gate.run_reviews[0].request
    gate.decide_run(first.call_id, None)
    await until(lambda: bool(gate.run_reviews) and gate.run_reviews[0].request is not first)
    second = gate.run_reviews[0].request
    assert second.prefix == ("wc",)
    agents[0].toolbox.commands.allow_for_session(second.prefix)
    gate.decide_run(second.call_id, None)
    seen, _ = await asyncio.wait_for(task, 30)
    assert len(outputs(seen)) == 3 and not gate.run_reviews  # the third never asked


# -- containment ---------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["bwrap", "landlock"])
async def test_writes_outside_network_and_daemons_are_contained(
    project: Path, tmp_path: Path, mechanism: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    listener = Listener()
    token = f"kimitui-cmd-daemon-{os.getpid()}-{time.monotonic_ns()}"
    line = (
        f"echo x > {outside}/w.txt; echo wrote=$?; "
        f"python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {listener.port}), 2)'"
        f" ; echo net=$?; (setsid sleep 60 {token} &) ; echo started"
    )
    try:
        # No gate here: what is tested is the sandbox, the wall behind the gate.
        box = Toolbox(Workspace(project), sandbox=Sandbox(mechanism=mechanism))
        result = await box.call("c", "run_command", {"command": line})
    finally:
        listener.close()
    out = result.output
    assert "wrote=1" in out or "wrote=2" in out, out
    assert "net=0" not in out and "started" in out, out
    assert not (outside / "w.txt").exists()
    assert listener.accepted == 0
    assert wait_gone(token), "a daemon outlived run_command"


async def test_git_folder_is_never_writable(project: Path) -> None:
    await run_agent(
        project, [cmd("rm -rf .git; echo gone=$?")], AutoGate(), command_allow=["rm", "echo"]
    )
    # rm -r is flagged, so headless auto refuses it outright; the sandbox is the second wall.
    assert (project / ".git" / "HEAD").exists()
    box = Toolbox(Workspace(project))
    result = await box.call("c", "run_command", {"command": "rm -rf .git; echo gone=$?"})
    assert (project / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n", result.output


# -- checkpoints and undo ---------------------------------------------------------------


DAMAGE = (
    "rm src/util.py run.sh link && echo new > created.txt && mkdir -p deep/er && "
    "echo x > deep/er/f && printf 'changed' > src/app.py && chmod 644 private.txt && "
    "mkdir build && echo ignored > build/out"
)


async def test_undo_restores_a_commands_damage_byte_for_byte(project: Path) -> None:
    before = tree(project)
    seen, _ = await run_agent(project, [cmd(DAMAGE)], AutoGate(), command_allow=["rm"])
    # rm is allowed, but the line holds more: headless auto refuses; run it under ask=yes.
    assert tree(project) == before
    gate = AskGate()
    task = asyncio.create_task(run_agent(project, [cmd(DAMAGE)], gate))
    await until(lambda: bool(gate.run_reviews))
    gate.decide_run(gate.run_reviews[0].request.call_id, None)
    seen, _ = await asyncio.wait_for(task, 30)
    assert outputs(seen)[0].startswith("exit code 0"), outputs(seen)
    assert tree(project) != before
    (checkpoint,) = [e for e in seen if isinstance(e, ev.CheckpointTaken)]
    assert checkpoint.step == 1 and checkpoint.files == 6
    session = next(e for e in seen if isinstance(e, ev.SessionStarted)).id
    report = Checkpoints(project, session).undo(to=1)
    assert sorted(report.removed) == ["created.txt", "deep/er/f"]
    assert sorted(report.restored) == ["link", "private.txt", "run.sh", "src/app.py", "src/util.py"]
    after = tree(project)
    assert {k: v for k, v in after.items() if not k.startswith("build")} == before
    assert not (project / "deep").exists()
    assert (project / "build" / "out").exists()  # ignored files are not the checkpoint's


async def test_undo_skips_a_file_the_user_changed_since(project: Path) -> None:
    gate = AskGate()
    line = "rm src/util.py && printf 'model' > src/app.py && echo n > new.txt"
    task = asyncio.create_task(run_agent(project, [cmd(line)], gate))
    await until(lambda: bool(gate.run_reviews))
    gate.decide_run(gate.run_reviews[0].request.call_id, None)
    seen, _ = await asyncio.wait_for(task, 30)
    session = next(e for e in seen if isinstance(e, ev.SessionStarted)).id
    (project / "src" / "app.py").write_text("the user's own fix\n")
    report = Checkpoints(project, session).undo()
    assert report.skipped == ["src/app.py"]
    assert (project / "src" / "app.py").read_text() == "the user's own fix\n"
    assert (project / "src" / "util.py").exists() and not (project / "new.txt").exists()
    assert "left as they are" in report.describe()


EDIT = {"path": "src/app.py", "old_string": "a + b", "new_string": "a - b"}


async def test_edits_are_checkpointed_and_undone_too(project: Path) -> None:
    before = tree(project)
    turns = [
        Turn(tool_calls=(ToolCallSpec("write_file", {"path": "src/new.py", "content": "n\n"}),)),
        Turn(tool_calls=(ToolCallSpec("edit_file", EDIT),)),
    ]
    seen, _ = await run_agent(project, turns, AutoGate())
    steps = [e.step for e in seen if isinstance(e, ev.CheckpointTaken)]
    assert steps == [1, 2]
    session = next(e for e in seen if isinstance(e, ev.SessionStarted)).id
    store = Checkpoints(project, session)
    store.undo()  # the last: step 2's edit
    assert "a + b" in (project / "src" / "app.py").read_text()
    assert (project / "src" / "new.py").exists()
    store.undo(to=1)
    assert tree(project) == before


async def until(predicate, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


def test_running_helper_sees_no_stray_sleepers() -> None:
    assert not running("kimitui-cmd-daemon-never-started")


# -- kimitui undo -------------------------------------------------------------------------


def kimitui(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kimitui", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),  # the test's private KIMITUI_STATE_DIR
    )


async def test_undo_command_lists_and_restores_steps(project: Path) -> None:
    original = tree(project)
    gate = AskGate()
    turns = [
        Turn(tool_calls=(ToolCallSpec("write_file", {"path": "src/new.py", "content": "n\n"}),)),
        cmd("rm -r src && echo gone > notes.txt"),
    ]
    task = asyncio.create_task(run_agent(project, turns, gate))
    while not task.done():
        await asyncio.sleep(0.02)
        if gate.current is not None:
            gate.approve_turn()
        if gate.run_reviews:
            gate.decide_run(gate.run_reviews[0].request.call_id, None)
    seen, _ = task.result()
    assert not (project / "src").exists()
    session = next(e for e in seen if isinstance(e, ev.SessionStarted)).id

    listed = kimitui("undo", "--list", cwd=project)
    assert listed.returncode == 0, listed.stderr
    assert f"session {session}" in listed.stdout
    steps = [line.split()[0] for line in listed.stdout.splitlines()[2:-1]]
    assert steps == ["1", "2"]

    last = kimitui("undo", cwd=project)
    assert last.returncode == 0, last.stderr
    assert "before step 2" in last.stdout
    assert (project / "src" / "new.py").read_text() == "n\n"
    assert not (project / "notes.txt").exists()

    first = kimitui("undo", str(project), "--session", session[:6], "--to", "1", cwd=project.parent)
    assert first.returncode == 0, first.stderr
    assert tree(project) == original

    nothing = kimitui("undo", cwd=project)
    assert nothing.returncode == 1 and "nothing to undo" in nothing.stderr


def test_undo_command_without_sessions_says_what_to_do(tmp_path: Path) -> None:
    done = kimitui("undo", cwd=tmp_path)
    assert done.returncode == 1
    assert "no session with checkpoints" in done.stderr
