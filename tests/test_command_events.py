"""The command and checkpoint events in JSONL and the headless lines; the gate's
decisions on commands; the [commands] config section."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from kimitui.config import ConfigError, read_config_file
from kimitui.core import events as ev
from kimitui.core.gate import AskGate, AutoGate, NeverGate
from kimitui.headless import HeadlessRenderer
from kimitui.tools.confine import RunRequest

EVENTS = [
    ev.CommandProposed("c1", "rm -rf build", "/p", ["rm -r -f: build (3 files)"]),
    ev.CommandFinished("c1", 0, "exit code 0", 0.25),
    ev.CommandFinished("c2", None, "timed out", 1.0),
    ev.CheckpointTaken(2, 5000, 0.08),
]


def test_events_serialise_to_the_contract_and_read_back() -> None:
    dicts = [e.to_dict() for e in EVENTS]
    assert dicts[0] == {
        "type": "command",
        "id": "c1",
        "command": "rm -rf build",
        "cwd": "/p",
        "flags": ["rm -r -f: build (3 files)"],
    }
    assert dicts[1] == {
        "type": "command_result", "id": "c1", "exit": 0, "output": "exit code 0",
        "duration_s": 0.25,
    }  # fmt: skip
    assert dicts[3] == {"type": "checkpoint", "step": 2, "files": 5000, "duration_s": 0.08}
    assert [ev.event_from_dict(d) for d in dicts] == EVENTS
    assert ev.CommandOutputDelta("c1", "x").streaming


def test_headless_lines_and_jsonl() -> None:
    out = io.StringIO()
    lines = HeadlessRenderer(out)
    lines.step = 3
    for event in [*EVENTS, ev.CommandOutputDelta("c1", "live")]:
        lines(event)
    assert out.getvalue().splitlines() == [
        "[step 3] $ rm -rf build",
        "[step 3]   ! rm -r -f: build (3 files)",
        "[step 3]   exit 0 in 0.25 s",
        "[step 3]   timed out in 1 s",
        "[step 3] checkpoint: 5000 files (80 ms)",
    ]
    jsonl = io.StringIO()
    as_json = HeadlessRenderer(jsonl, json_mode=True)
    for event in [*EVENTS, ev.CommandOutputDelta("c1", "live")]:
        as_json(event)
    types = [json.loads(line)["type"] for line in jsonl.getvalue().splitlines()]
    assert types == ["command", "command_result", "command_result", "checkpoint"]


def request(**kw) -> RunRequest:
    base = dict(call_id="c", tool="run_command", command=("/bin/sh", "-c", "x"), cwd="/p",
                sandbox="bwrap", line="x")  # fmt: skip
    return RunRequest(**{**base, **kw})


async def test_gates_decide_commands() -> None:
    allowed = request(allowed=True)
    asked = request(why_asked=("`x` is not covered by [commands] allow",))
    assert await AutoGate().review_run(allowed) is None
    refusal = await AutoGate().review_run(asked)
    assert refusal is not None and "nobody is here to ask" in refusal and "`x`" in refusal
    assert "no command runs" in (await NeverGate().review_run(allowed) or "")
    # run_tests keeps its old rule under auto: it runs.
    assert await AutoGate().review_run(request(tool="run_tests")) is None
    gate = AskGate(auto_approve=True)
    assert await gate.review_run(allowed) is None  # allowed and confined: no question
    assert not gate.run_reviews


async def test_ask_asks_for_an_allowed_command_when_nothing_confines_it() -> None:
    import asyncio

    gate = AskGate()
    task = asyncio.create_task(gate.review_run(request(allowed=True, sandbox="none")))
    await asyncio.sleep(0.01)
    assert len(gate.run_reviews) == 1
    gate.decide_run("c", "no")
    assert await task == "no"


def test_commands_config_section(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[commands]\nallow = ["pytest", "ruff check"]\ndeny = ["curl"]\ntimeout = 30\n'
    )
    assert read_config_file(config) == {
        "command_allow": ["pytest", "ruff check"],
        "command_deny": ["curl"],
        "command_timeout": 30,
    }
    for bad, says in [
        ('allow = ["ruff \'check"]', "cannot read"),
        ('deny = [" "]', "empty"),
        ("timeout = 0", "positive"),
        ('allow = "pytest"', "expected list"),
    ]:
        config.write_text(f"[commands]\n{bad}\n")
        with pytest.raises(ConfigError, match=says):
            read_config_file(config)
