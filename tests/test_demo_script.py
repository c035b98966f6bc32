"""The demo script, driven end to end by a tiny agent loop over real HTTP and real pytest."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI

from kimitui.demo import DEMO_TASK, copy_sample, demo_turns, sample_files
from kimitui.demo.refactor import demo_turn, suite_passed
from kimitui.demo.server import ScriptedServer


def _tool(name: str, **props: str) -> dict[str, Any]:
    properties = {key: {"type": kind} for key, kind in props.items()}
    schema = {"type": "object", "properties": properties, "required": list(props)}
    return {"type": "function", "function": {"name": name, "parameters": schema}}


TOOLS = [
    _tool("list_files"),
    _tool("read_file", path="string"),
    _tool("write_file", path="string", content="string"),
    _tool("run_tests"),
]
Approve = Callable[[str], bool]


@dataclass
class Step:
    reasoning: str = ""
    content: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Run:
    steps: list[Step]
    results: list[str]  # every tool result, in order


def pytest_in(root: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    # The sample needs no plugins; skipping the venv's keeps each run well under a second.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=120)


async def execute(root: Path, name: str, args: dict[str, Any], approve: Approve) -> str:
    """The article's four tools, naively, plus a reviewer that says yes or no."""
    if name == "list_files":
        return "\n".join(sorted(p.name for p in root.glob("*.py")))
    if name == "read_file":
        return (root / args["path"]).read_text()
    if name == "write_file":
        if not approve(args["path"]):
            return (
                f"The user rejected the write_file edit to {args['path']}; the file is "
                "unchanged.\nUser feedback: keep it in one file"
            )
        (root / args["path"]).write_text(args["content"])
        return f"wrote {len(args['content'])} chars to {args['path']}"
    if name == "run_tests":
        done = await asyncio.to_thread(pytest_in, root)
        return (done.stdout + done.stderr)[-4000:]
    return f"unknown tool {name}"


async def one_step(client: AsyncOpenAI, model: str, messages: list[dict[str, Any]]) -> Step:
    stream = await client.chat.completions.create(
        model=model,
        messages=messages,
        tools=TOOLS,
        stream=True,
        extra_body={"thinking": {"type": "enabled"}},
    )
    step, calls = Step(), {}
    async for chunk in stream:
        for choice in chunk.choices:
            step.reasoning += getattr(choice.delta, "reasoning_content", None) or ""
            step.content += choice.delta.content or ""
            for frag in choice.delta.tool_calls or []:
                call = calls.setdefault(frag.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = frag.id or call["id"]
                call["name"] = (frag.function and frag.function.name) or call["name"]
                call["arguments"] += (frag.function and frag.function.arguments) or ""
    step.calls = [calls[i] for i in sorted(calls)]
    return step


def assistant_message(step: Step) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "reasoning_content": step.reasoning}
    if step.content:
        message["content"] = step.content
    if step.calls:
        message["tool_calls"] = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for c in step.calls
        ]
    return message


async def drive(server: ScriptedServer, root: Path, approve: Approve, max_steps: int = 15) -> Run:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You refactor Python projects with tools."},
        {"role": "user", "content": DEMO_TASK},
    ]
    run = Run([], [])
    async with AsyncOpenAI(base_url=server.base_url, api_key="demo", max_retries=0) as client:
        for _ in range(max_steps):
            step = await one_step(client, server.model, messages)
            run.steps.append(step)
            messages.append(assistant_message(step))
            if not step.calls:
                return run
            for call in step.calls:
                result = await execute(root, call["name"], json.loads(call["arguments"]), approve)
                run.results.append(result)
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    raise AssertionError("the demo did not finish within max_steps")


def call_names(run: Run) -> list[list[str]]:
    return [[c["name"] for c in step.calls] for step in run.steps]


def written_paths(run: Run) -> list[str]:
    return [
        json.loads(c["arguments"])["path"]
        for step in run.steps
        for c in step.calls
        if c["name"] == "write_file"
    ]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    copy_sample(root)
    return root


# -- the sample ---------------------------------------------------------------------------


def test_sample_ships_a_god_module_whose_tests_pass(project: Path) -> None:
    assert sorted(p.name for p in project.iterdir()) == ["app.py", "test_app.py"]
    source = (project / "app.py").read_text()
    assert source.count("@dataclass") >= 2 and "def main(" in source
    assert 60 <= len(source.splitlines()) <= 100
    done = pytest_in(project)
    assert done.returncode == 0, done.stdout
    assert "5 passed" in done.stdout


def test_copy_sample_refuses_a_folder_with_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        copy_sample(tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        copy_sample(tmp_path / "notes.txt")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_copy_sample_accepts_an_empty_folder(tmp_path: Path) -> None:
    copy_sample(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == sample_files()


# -- the demo, end to end -------------------------------------------------------------------


async def test_demo_refactors_trips_on_the_import_and_recovers(project: Path) -> None:
    async with ScriptedServer(demo_turns()) as server:
        run = await drive(server, project, approve=lambda _: True)
    assert server.errors == []
    assert call_names(run) == [
        ["list_files"],
        ["read_file", "read_file"],
        ["write_file"],
        ["write_file"],
        ["write_file"],
        ["run_tests"],
        ["write_file"],
        ["run_tests"],
        [],
    ]
    assert written_paths(run) == ["models.py", "logic.py", "app.py", "app.py"]
    first_tests = run.results[6]
    assert "ImportError: cannot import name 'apply_discount' from 'app'" in first_tests
    quoted = next(line for line in first_tests.splitlines() if "ImportError: cannot" in line)
    assert quoted.removeprefix("E").strip() in run.steps[6].reasoning
    assert suite_passed(run.results[-1])
    assert "Split complete" in run.steps[-1].content
    assert "__all__" in (project / "app.py").read_text()
    assert pytest_in(project).returncode == 0
    assert (project / "test_app.py").read_bytes() == sample_files()["test_app.py"]


async def test_demo_with_every_edit_rejected_leaves_the_sample_alone(project: Path) -> None:
    async with ScriptedServer(demo_turns()) as server:
        run = await drive(server, project, approve=lambda _: False)
    assert server.errors == []
    assert written_paths(run) == ["models.py"]  # it stops proposing after the first no
    assert call_names(run)[-2:] == [["run_tests"], []]
    assert 'rejected, with the note "keep it in one file"' in run.steps[-2].reasoning
    final = run.steps[-1].content
    assert "Nothing was changed" in final and "5 passed" in final
    assert {p.name: p.read_bytes() for p in project.glob("*.py")} == sample_files()


async def test_demo_with_only_models_approved_reports_the_half_split(project: Path) -> None:
    async with ScriptedServer(demo_turns()) as server:
        run = await drive(server, project, approve=lambda path: path == "models.py")
    assert server.errors == []
    assert written_paths(run) == ["models.py", "logic.py"]
    final = run.steps[-1].content
    assert "Applied: models.py" in final and "logic.py" in final
    assert (project / "models.py").exists() and not (project / "logic.py").exists()


# -- the script's judgement, without a server --------------------------------------------


def _body(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": DEMO_TASK}, *messages]}


def _asked(name: str, call_id: str, **args: str) -> dict[str, Any]:
    call = {"id": call_id, "type": "function"}
    call["function"] = {"name": name, "arguments": json.dumps(args)}
    return {"role": "assistant", "reasoning_content": "", "tool_calls": [call]}


def test_a_follow_up_after_the_summary_gets_a_short_answer() -> None:
    body = _body(
        {"role": "assistant", "content": "Split complete."},
        {"role": "user", "content": "thanks! can you also add type hints?"},
    )
    turn = demo_turn(body)
    assert turn.tool_calls == () and turn.content


def test_a_message_slipped_in_mid_task_is_acknowledged() -> None:
    body = _body(
        _asked("list_files", "functions.list_files:0"),
        {"role": "tool", "tool_call_id": "functions.list_files:0", "content": "app.py"},
        {"role": "user", "content": "keep main() tiny please"},
    )
    turn = demo_turn(body)
    assert 'The user just added: "keep main() tiny please"' in turn.reasoning
    assert [c.name for c in turn.tool_calls] == ["read_file", "read_file"]


@pytest.mark.parametrize(
    ("output", "ok"),
    [
        ("run_tests: PASSED (exit code 0): 5 passed in 0.70s", True),
        (".....\n5 passed in 0.70s", True),
        ("E   ImportError: cannot import name 'x' from 'app'\n1 error in 0.1s", False),
        ("1 failed, 4 passed in 0.2s", False),
        ("", False),
    ],
)
def test_tests_passed_reads_pytest_output(output: str, ok: bool) -> None:
    assert suite_passed(output) is ok
