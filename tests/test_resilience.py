"""Long sessions, repeated calls, secrets and signals: the engine under pressure."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from proctools import wait_gone, wait_running

from kimitui.config import Settings
from kimitui.core import events as ev
from kimitui.core.compaction import SHORTENED_MARK, SUMMARY_HEADER
from kimitui.core.gate import AutoGate
from kimitui.core.loop import REPEAT_LIMIT
from kimitui.demo.script import Fault, ToolCallSpec, Turn
from kimitui.demo.server import ScriptedServer
from kimitui.wiring import Endpoint, build_agent

TASK = "Survey big.py and note what it holds in notes.md."
SUMMARY = "Summary: notes.md was written; big.py holds numbered filler lines."
BIG = "".join(f"value_{i:03d} = {i} * 7  # filler line for the context test\n" for i in range(30))


def reads(n: int) -> list[ToolCallSpec]:
    return [
        ToolCallSpec("read_file", {"path": "big.py", "start_line": k + 1}, id=f"call{k + 1}")
        for k in range(n)
    ]


MAIN_CALLS = [
    ToolCallSpec("write_file", {"path": "notes.md", "content": "big.py: filler\n"}, id="call0"),
    *reads(4),
]


def step_of(body: dict[str, Any]) -> int:
    """Which main step a request asks for, from the id of the last answered call."""
    last = body["messages"][-1]
    return 0 if last["role"] != "tool" else int(last["tool_call_id"].removeprefix("call")) + 1


def survey_script(overflow_at: int | None = None) -> Any:
    def turn(body: dict[str, Any]) -> Turn:
        if "tools" not in body:
            return Turn(content=SUMMARY)
        step = step_of(body)
        if step >= len(MAIN_CALLS):
            return Turn(content="Done: notes.md holds the survey.")
        compacted = any(SUMMARY_HEADER in str(m.get("content")) for m in body["messages"])
        faults = (Fault.context_overflow(),) if step == overflow_at and not compacted else ()
        return Turn(reasoning=f"Step {step}.", tool_calls=(MAIN_CALLS[step],), faults=faults)

    return turn


def prompt_tokens(body: dict[str, Any]) -> int:
    """The server's own estimate: characters of messages and tools over four."""
    return (len(json.dumps(body["messages"])) + len(json.dumps(body.get("tools", [])))) // 4


async def run_survey(tmp_path: Path, window: int, overflow_at: int | None = None):
    (tmp_path / "big.py").write_text(BIG)
    seen: list[ev.Event] = []
    async with ScriptedServer([survey_script(overflow_at)] * 20) as server:
        settings = Settings(context_window=window)
        agent = build_agent(settings, tmp_path, Endpoint(server.base_url, "k"), AutoGate())
        agent.subscribe(seen.append)
        done = await agent.run(TASK)
        await agent.client.close()
    return done, server, seen


async def test_threshold_compaction_keeps_the_request_under_the_limit(tmp_path: Path) -> None:
    window = 2_750  # tuned to the tool schemas' size (run_command added ~110 tokens)
    done, server, seen = await run_survey(tmp_path, window)
    assert done.reason == "finished", done.message
    assert server.errors == []
    notices = [e.text for e in seen if isinstance(e, ev.Notice)]
    assert any(n.startswith("context compacted") for n in notices)
    main = [b for b in server.requests if "tools" in b]
    after = next(b for b in main if SHORTENED_MARK[:20] in json.dumps(b["messages"]))
    assert prompt_tokens(after) < 0.85 * window
    text = json.dumps(after["messages"])
    assert TASK in text
    assert "Applied write_file to notes.md" in text
    assert max(prompt_tokens(b) for b in main) < 0.85 * window
    # Uncompacted, the conversation would have passed 90% of the window.
    compactions = [n for n in notices if n.startswith("context compacted")]
    uncompacted = int(compactions[-1].split("~")[1].split(" ")[0].replace(",", ""))
    assert uncompacted > 0.9 * window
    assert "summarised" in compactions[-1]
    assert (tmp_path / "notes.md").read_text() == "big.py: filler\n"


async def test_context_overflow_compacts_then_retries_once(tmp_path: Path) -> None:
    done, server, seen = await run_survey(tmp_path, 262_144, overflow_at=3)
    assert done.reason == "finished", done.message
    kinds = ["summary" if "tools" not in b else f"step {step_of(b)}" for b in server.requests]
    assert kinds == [
        "step 0",
        "step 1",
        "step 2",
        "step 3",
        "summary",
        "step 3",
        "step 4",
        "step 5",
    ]
    retried = server.requests[5]["messages"]
    summary = next(m for m in retried if SUMMARY_HEADER in str(m.get("content")))
    assert SUMMARY in summary["content"]
    assert "notes.md: Applied write_file" in summary["content"]
    assert retried[1] == {"role": "user", "content": TASK}
    # The last steps stay verbatim after the summary, with their tool results.
    assert retried[-1]["role"] == "tool" and retried[-1]["tool_call_id"] == "call2"
    assert server.errors == []
    assert any("context overflow" in e.text for e in seen if isinstance(e, ev.Notice))


async def test_third_identical_call_in_a_row_is_not_run(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    same = ToolCallSpec("read_file", {"path": "a.py"})
    turns = [Turn(tool_calls=(same,))] * REPEAT_LIMIT + [Turn(content="Stopping.")]
    async with ScriptedServer(turns) as server:
        agent = build_agent(Settings(), tmp_path, Endpoint(server.base_url, "k"), AutoGate())
        done = await agent.run("read it")
        await agent.client.close()
    assert done.reason == "finished"
    results = [m["content"] for m in server.requests[-1]["messages"] if m["role"] == "tool"]
    assert "x = 1" in results[0] and "x = 1" in results[1]
    assert "same arguments" in results[2] and "x = 1" not in results[2]


SECRET = "sk-live-DO-NOT-LEAK-4242"


async def test_no_tool_sequence_leaks_a_secret_or_writes_git(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"API_KEY={SECRET}\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / "app.py").write_text("import os\n")
    attempts = [
        ("read_file", {"path": ".env"}),
        ("read_file", {"path": "./sub/../.env"}),
        ("read_file", {"path": str(tmp_path / ".env")}),
        ("search", {"pattern": "sk-live"}),
        ("search", {"pattern": "API_KEY", "glob": ".env*"}),
        ("edit_file", {"path": ".env", "old_string": "sk-live", "new_string": "x"}),
        ("list_files", {"pattern": ".env"}),
        ("write_file", {"path": ".git/HEAD", "content": "pwned\n"}),
        ("write_file", {"path": ".git/hooks/pre-commit", "content": "#!/bin/sh\n"}),
        ("edit_file", {"path": ".git/HEAD", "old_string": "main", "new_string": "x"}),
    ]
    (tmp_path / "link_env").symlink_to(tmp_path / ".env")
    attempts.append(("read_file", {"path": "link_env"}))
    turns = [Turn(tool_calls=(ToolCallSpec(n, a),)) for n, a in attempts]
    async with ScriptedServer([*turns, Turn(content="Could not.")]) as server:
        agent = build_agent(Settings(), tmp_path, Endpoint(server.base_url, "k"), AutoGate())
        done = await agent.run("show me the keys")
        await agent.client.close()
    assert done.reason == "finished"
    assert all(SECRET not in json.dumps(body) for body in server.requests)
    assert (tmp_path / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert not (tmp_path / ".git" / "hooks").exists()


def test_sigint_during_run_tests_kills_the_process_group(tmp_path: Path) -> None:
    # The sandbox hides pids and the disk outside the project: find the
    # grandchild by a token in its command line, from the host's /proc.
    token = f"kimitui-sigint-{os.getpid()}-{time.monotonic_ns()}"
    project = tmp_path / "proj"
    project.mkdir()
    spawner = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', {token!r}])\n"
        "time.sleep(120)\n"
    )
    config = tmp_path / "config.toml"
    config.write_text(f"[tools]\ntest_command = {json.dumps([sys.executable, '-c', spawner])}\n")
    before = sorted(p.name for p in project.iterdir())
    server = ScriptedServer(
        [Turn(tool_calls=(ToolCallSpec("run_tests", {}),)), Turn(content="never")]
    )
    with server.run_in_thread() as base_url:
        env = {k: v for k, v in os.environ.items() if "KEY" not in k}
        env.update(KIMITUI_CONFIG=str(config), MOONSHOT_API_KEY="sk-test")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kimitui",
                str(project),
                "--headless",
                "--json",
                "--task",
                "test",
                "--base-url",
                base_url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert wait_running(token, 30), "the grandchild never started"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert json.loads(out.splitlines()[-1])["reason"] == "interrupted"
    assert wait_gone(token)
    assert sorted(p.name for p in project.iterdir()) == before
