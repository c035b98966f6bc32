"""A hostile or broken endpoint, and names that are not UTF-8 (issue 14, items 4, 6, 7, 9).

Each test drives the real Agent over real HTTP against the scripted server, and
checks what kimitui saved: the session must always finish (or stop with a clear
error), stay resumable, and hold no more than the limits allow.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from test_cli import clean_env, kimitui
from test_session import assert_order_rule

from kimitui.config import Settings
from kimitui.core import events as ev
from kimitui.core.gate import AutoGate
from kimitui.core.llm import MAX_ANSWER_CHARS, MAX_ARGUMENT_CHARS, MAX_CALLS_KEPT
from kimitui.core.loop import MAX_TOOL_CALLS
from kimitui.core.resume import needs_model, repair
from kimitui.core.session import SessionRecorder, resume_session, start_session
from kimitui.core.transcript import load_transcript
from kimitui.demo.script import Fault, ToolCallSpec, Turn
from kimitui.demo.server import ScriptedServer
from kimitui.wiring import Endpoint, build_agent

BAD_NAME = b"caf\xe9-\xff.py"  # Latin-1, as an old archive would hold it: not UTF-8
SHOWN_NAME = os.fsdecode(BAD_NAME)  # "caf\udce9-\udcff.py", what Python gives for it
ATTEMPTS = 4  # ClientConfig.max_attempts


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "state"
    monkeypatch.setenv("KIMITUI_STATE_DIR", str(folder))
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "a.py").write_text("x = 1\n")
    return root


def agent_on(project: Path, base_url: str, session_id: str | None = None, **settings: Any) -> Any:
    agent = build_agent(
        Settings(**settings),
        project,
        Endpoint(base_url, "sk-test"),
        AutoGate(),
        session_id=session_id,
    )
    agent.client.config.backoff_base = 0.01  # retries in milliseconds, not seconds
    return agent


async def run_recorded(
    project: Path, turns: list[Any], task: str = "go", **settings: Any
) -> tuple[ev.Done, SessionRecorder, ScriptedServer, list[ev.Event]]:
    seen: list[ev.Event] = []
    async with ScriptedServer(turns) as server:
        agent = agent_on(project, server.base_url, **settings)
        recorder = start_session(agent, task=task)
        agent.subscribe(seen.append)
        done = await agent.run(task)
        await agent.client.close()
        recorder.close()
    return done, recorder, server, seen


async def resume_and_finish(project: Path, path: Path, task: str | None = None) -> ev.Done:
    """Pick the saved session up against a healthy server: it must finish."""
    transcript = load_transcript(path)
    assert transcript.problems == []
    async with ScriptedServer([Turn(content="Picked up and finished.")]) as server:
        agent = agent_on(project, server.base_url, session_id=transcript.id)
        recorder = resume_session(agent, transcript)
        done = await agent.run(task)
        await agent.client.close()
        recorder.close()
    assert server.errors == []
    return done


def notices(seen: list[ev.Event]) -> list[str]:
    return [e.text for e in seen if isinstance(e, ev.Notice)]


def results(seen: list[ev.Event]) -> list[ev.ToolOutput]:
    return [e for e in seen if isinstance(e, ev.ToolOutput)]


# -- item 4: names that are not UTF-8 ------------------------------------------------


def make_bad_name(project: Path) -> None:
    with open(os.path.join(os.fsencode(project), BAD_NAME), "wb") as f:
        f.write(b"legacy = 1\n")


async def test_a_non_utf8_file_name_is_saved_sent_and_resumed(project: Path, state: Path) -> None:
    make_bad_name(project)
    turns = [
        Turn(tool_calls=(ToolCallSpec("list_files", {}),)),
        # The model names the file as it was shown: the JSON escape reads back the same.
        Turn(tool_calls=(ToolCallSpec("read_file", {"path": SHOWN_NAME}),)),
        Turn(content="Read it."),
    ]
    done, recorder, server, seen = await run_recorded(project, turns)
    assert done.reason == "finished", done.message
    assert server.errors == []
    listing, read = results(seen)
    assert SHOWN_NAME in listing.output and read.ok and "legacy = 1" in read.output
    # The request carried the name losslessly (as a JSON escape on the wire).
    sent = [m["content"] for m in server.requests[1]["messages"] if m["role"] == "tool"]
    assert SHOWN_NAME in sent[0]
    raw = recorder.path.read_bytes()
    raw.decode("utf-8")  # the transcript is valid UTF-8 ...
    assert b"\\udce9" in raw  # ... holding the escape
    transcript = load_transcript(recorder.path)
    assert any(SHOWN_NAME in str(m.get("content")) for m in transcript.messages)
    assert transcript.ended == "finished"
    assert await resume_and_finish(project, recorder.path, "and now?") == ev.Done(
        "finished", "Picked up and finished."
    )


async def test_a_broken_listener_never_stops_done_reaching_the_others(project: Path) -> None:
    """A front end waits for Done: one listener failing must not leave it on "running"."""

    def broken(event: ev.Event) -> None:
        if isinstance(event, (ev.ToolOutput, ev.Done)):
            raise UnicodeEncodeError("utf-8", "\udcff", 0, 1, "surrogates not allowed")

    seen: list[ev.Event] = []
    turns = [Turn(tool_calls=(ToolCallSpec("list_files", {}),)), Turn(content="Listed.")]
    async with ScriptedServer(turns) as server:
        agent = agent_on(project, server.base_url)
        agent.subscribe(broken)
        agent.subscribe(seen.append)
        done = await agent.run("list")
        await agent.client.close()
    assert done.reason == "finished"
    assert seen[-1] == ev.Done("finished", "Listed.")
    assert agent.state == "done"


# -- item 6: servers -------------------------------------------------------------------


@pytest.mark.parametrize("length", ["a lot", {"tokens": 5}, -5, 1.5, True, [262_144]])
async def test_a_context_length_that_is_not_a_number_is_a_notice_and_the_default(
    project: Path, length: Any
) -> None:
    seen: list[ev.Event] = []
    async with ScriptedServer([Turn(content="hi")], context_length=length) as server:
        agent = agent_on(project, server.base_url)
        default = agent.budget.context_window
        agent.subscribe(seen.append)
        done = await agent.run("hello")
        await agent.client.close()
    assert done.reason == "finished"
    assert agent.budget.context_window == default
    warning = next(e for e in seen if isinstance(e, ev.Notice) and "context_length" in e.text)
    assert warning.level == "warning" and f"using {default:,} tokens" in warning.text


def test_a_bad_context_length_is_a_notice_at_start_up_never_a_traceback(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    server = ScriptedServer([Turn(content="Hello.")], context_length="262k")
    with server.run_in_thread() as base_url:
        run = cli(
            tmp_path / "state", str(project), "--headless", "--task", "hi", "--base-url", base_url
        )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "warning: GET /models gives kimi-k2.7-code a context_length of '262k'" in run.stdout
    assert "says: Hello." in run.stdout


async def test_a_models_answer_nested_100000_deep_is_a_notice(project: Path) -> None:
    body = '{"data": ' + "[" * 100_000 + "]" * 100_000 + "}"
    seen: list[ev.Event] = []
    async with ScriptedServer([Turn(content="hi")], models_body=body) as server:
        agent = agent_on(project, server.base_url)
        agent.subscribe(seen.append)
        done = await agent.run("hello")
        await agent.client.close()
    assert done.reason == "finished"
    assert any("GET /models" in n and "nested too deeply" in n for n in notices(seen))


def deep_chunk(depth: int) -> str:
    return '{"choices": [{"index": 0, "delta": {"content": ' + "[" * depth + "]" * depth + "}}]}"


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def call_chunk(arguments: Any) -> dict[str, Any]:
    fn = {"name": "read_file", "arguments": arguments}
    return chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": fn}]})


MALFORMED = {
    "json nested 100,000 deep": (deep_chunk(100_000),),
    "json nested 500 deep": (deep_chunk(500),),
    "arguments as an object": (call_chunk({"path": "a.py"}), chunk({}, "tool_calls")),
    "arguments as a number": (call_chunk(42), chunk({}, "tool_calls")),
    "content as a list": (chunk({"content": ["x"]}), chunk({}, "stop")),
    "choices as a string": ({"choices": "yes"},),
    "a chunk that is a list": ([1, 2, 3],),
}


@pytest.mark.parametrize("payloads", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_stream_is_retried_and_then_served(
    project: Path, state: Path, payloads: tuple[Any, ...]
) -> None:
    turns = [Turn(content="Fine now.", faults=(Fault.raw(*payloads),))]
    done, _, server, seen = await run_recorded(project, turns)
    assert done.reason == "finished", done.message
    assert len(server.requests) == 2
    retry = next(e for e in seen if isinstance(e, ev.RetryScheduled))
    assert "malformed" in retry.reason or "nested too deeply" in retry.reason


@pytest.mark.parametrize("payloads", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_server_that_stays_malformed_ends_in_an_error_that_resumes(
    project: Path, state: Path, payloads: tuple[Any, ...]
) -> None:
    turns = [Turn(content="never", faults=(Fault.raw(*payloads),) * ATTEMPTS)]
    done, recorder, server, _ = await run_recorded(project, turns)
    assert done.reason == "error"
    assert done.message.startswith(f"gave up after {ATTEMPTS} attempts")
    assert "internal error" not in done.message
    assert len(server.requests) == ATTEMPTS
    transcript = load_transcript(recorder.path)
    assert transcript.ended == "error" and needs_model(transcript.messages)
    assert (await resume_and_finish(project, recorder.path)).reason == "finished"


async def test_null_arguments_are_no_arguments(project: Path) -> None:
    fn = {"name": "list_files", "arguments": None}
    frag = {"index": 0, "id": "c1", "type": "function", "function": fn}
    # The fault is the first answer (a complete one); the turn's own text is the second.
    hostile = Fault.raw(chunk({"tool_calls": [frag]}), chunk({}, "tool_calls"))
    turns = [Turn(content="Listed.", faults=(hostile,))]
    seen: list[ev.Event] = []
    async with ScriptedServer(turns) as server:
        agent = agent_on(project, server.base_url)
        agent.subscribe(seen.append)
        done = await agent.run("list")
        await agent.client.close()
    assert done.reason == "finished"
    assert [r.ok for r in results(seen)] == [True]


# -- item 6: limits on what a server can make kimitui hold -----------------------------


@pytest.mark.parametrize("field", ["content", "reasoning", "arguments"])
async def test_an_answer_past_the_size_limit_is_abandoned_not_retried(
    project: Path, state: Path, field: str
) -> None:
    flood = Fault.flood(3 * MAX_ANSWER_CHARS, field)  # type: ignore[arg-type]
    done, recorder, server, seen = await run_recorded(project, [Turn(faults=(flood,))])
    assert done.reason == "error"
    assert f"limit of {MAX_ANSWER_CHARS:,} characters" in done.message
    assert len(server.requests) == 1  # every character is billed: no second flood
    assert not results(seen)  # nothing of the cut answer ran
    # Nothing of it was kept either: the transcript stays small, and resumes.
    assert recorder.path.stat().st_size < 100_000
    assert (await resume_and_finish(project, recorder.path)).reason == "finished"


async def test_a_huge_single_event_is_not_buffered_whole(project: Path, state: Path) -> None:
    fault = Fault("huge_event", size=40 * 2**20)
    done, recorder, server, _ = await run_recorded(project, [Turn(faults=(fault,))])
    assert done.reason == "error"
    assert "MB in one server-sent event" in done.message
    assert len(server.requests) == 1
    assert recorder.path.stat().st_size < 100_000


async def test_oversized_arguments_are_answered_not_run(project: Path, state: Path) -> None:
    big = "y" * (MAX_ARGUMENT_CHARS + 10)
    write = ToolCallSpec("write_file", {"path": "big.txt", "content": big})
    small = ToolCallSpec("read_file", {"path": "a.py"})
    turns = [Turn(tool_calls=(write, small)), Turn(content="I will write it in parts.")]
    done, recorder, server, seen = await run_recorded(project, turns)
    assert done.reason == "finished", done.message
    assert server.errors == []  # the next request was a valid conversation
    refused, read = results(seen)
    assert not refused.ok and f"limit of {MAX_ARGUMENT_CHARS:,}" in refused.output
    assert read.ok and "x = 1" in read.output
    assert not (project / "big.txt").exists()
    sent = server.requests[1]["messages"]
    assert sent[-3]["tool_calls"][0]["function"]["arguments"] == "{}"
    assert recorder.path.stat().st_size < 200_000  # the megabyte was never kept


async def test_arguments_nested_100000_deep_are_answered_not_run(
    project: Path, state: Path
) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    turns = [Turn(tool_calls=(ToolCallSpec("read_file", deep),)), Turn(content="Sorry.")]
    done, recorder, _, seen = await run_recorded(project, turns)
    assert done.reason == "finished", done.message
    (refused,) = results(seen)
    assert not refused.ok and "deeper than 64 levels" in refused.output
    call = next(e for e in seen if isinstance(e, ev.ToolCall))
    assert "not shown" in call.arguments
    assert load_transcript(recorder.path).problems == []


async def test_thousands_of_calls_in_one_answer_mostly_do_not_run(
    project: Path, state: Path
) -> None:
    (project / "a.py").write_text("".join(f"x{i} = {i}\n" for i in range(3000)))
    calls = tuple(
        ToolCallSpec("read_file", {"path": "a.py", "start_line": i + 1}) for i in range(3000)
    )
    turns = [Turn(tool_calls=calls), Turn(content="Too many, sorry.")]
    done, _, server, seen = await run_recorded(project, turns, max_steps=2)
    assert done.reason == "finished", done.message
    assert server.errors == []  # every kept call was answered, in order
    outputs = results(seen)
    assert len(outputs) == MAX_CALLS_KEPT
    assert sum(r.ok for r in outputs) == MAX_TOOL_CALLS
    assert all("fewer at a time" in r.output for r in outputs[MAX_TOOL_CALLS:])
    assert any("3,000 tool calls" in n for n in notices(seen))
    messages = server.requests[1]["messages"]
    assert_order_rule(messages)
    assert len(messages[-MAX_CALLS_KEPT - 1]["tool_calls"]) == MAX_CALLS_KEPT


async def test_repeated_call_ids_each_get_their_own_answer(project: Path) -> None:
    same = tuple(
        ToolCallSpec("read_file", {"path": "a.py", "start_line": i}, id="x") for i in (1, 2)
    )
    async with ScriptedServer([Turn(tool_calls=same), Turn(content="ok")]) as server:
        agent = agent_on(project, server.base_url)
        done = await agent.run("read")
        await agent.client.close()
    assert done.reason == "finished"
    assert server.errors == []
    ids = [m["tool_call_id"] for m in server.requests[1]["messages"] if m["role"] == "tool"]
    assert len(set(ids)) == 2


# -- item 9: an overflow that compaction cannot shrink ----------------------------------


async def test_an_overflow_the_task_alone_causes_is_not_sent_again(
    project: Path, state: Path
) -> None:
    task = "Explain this log: " + "line of a huge log\n" * 2000
    overflow = Fault.context_overflow(limit=8_192, requested=9_500)
    done, recorder, server, seen = await run_recorded(
        project, [Turn(content="never", faults=(overflow,) * 3)], task=task
    )
    assert done.reason == "error"
    assert "not sent again" in done.message and "too big" in done.message
    assert len(server.requests) == 1  # neither a summary call nor the same request again
    assert done.message in notices(seen)
    assert load_transcript(recorder.path).ended == "error"


# -- item 6: a 100 MB hostile stream, measured in a child process ----------------------

STREAM_BYTES = 100 * 2**20
PEAK_RSS_LIMIT = 300 * 2**20


def run_child(args: list[str], env: dict[str, str]) -> tuple[int, int, str, str]:
    """Run kimitui in a child; (exit code, peak RSS in bytes, stdout, stderr)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kimitui", *args], stdout=out, stderr=err, env=env
        )
        # wait4, not getrusage(RUSAGE_CHILDREN): the peak of this child alone.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped: tell Popen
        out.seek(0)
        err.seek(0)
        text = (out.read().decode(), err.read().decode())
    return proc.returncode, usage.ru_maxrss * 1024, *text


@pytest.mark.parametrize(
    "fault",
    [
        Fault.flood(STREAM_BYTES, "content"),
        Fault.flood(STREAM_BYTES, "arguments"),
        Fault("huge_event", size=STREAM_BYTES),
    ],
    ids=["content flood", "arguments flood", "one 100 MB event"],
)
def test_a_100_mb_hostile_stream_keeps_memory_and_transcript_bounded(
    tmp_path: Path, fault: Fault
) -> None:
    state = tmp_path / "state"
    project = tmp_path / "proj"
    project.mkdir()
    server = ScriptedServer([Turn(faults=(fault,) * ATTEMPTS)])
    with server.run_in_thread() as base_url:
        env = clean_env(MOONSHOT_API_KEY="sk-test", KIMITUI_STATE_DIR=str(state))
        args = [str(project), "--headless", "--json", "--task", "go", "--base-url", base_url]
        code, peak, out, err = run_child(args, env)
    assert code == 1, err
    done = json.loads(out.splitlines()[-1])
    assert done["type"] == "done" and done["reason"] == "error"
    assert "limit of" in done["message"] or "MB in one server-sent event" in done["message"]
    assert "Traceback" not in err
    assert peak < PEAK_RSS_LIMIT, f"peak RSS {peak / 2**20:.0f} MB"
    (transcript,) = (state / "sessions").glob("*/*.jsonl")
    assert transcript.stat().st_size < 100_000
    assert len(server.requests) == 1


def test_3000_calls_under_max_steps_1_do_not_all_run(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "a.py").write_text("x = 1\n")
    calls = tuple(ToolCallSpec("search", {"pattern": f"x{i}"}) for i in range(3000))
    server = ScriptedServer([Turn(tool_calls=calls)])
    with server.run_in_thread() as base_url:
        env = clean_env(MOONSHOT_API_KEY="sk-test", KIMITUI_STATE_DIR=str(tmp_path / "state"))
        args = [str(project), "--headless", "--json", "--task", "go", "--base-url", base_url]
        code, _, out, err = run_child([*args, "--max-steps", "1"], env)
    assert code == 3, err
    events = [json.loads(line) for line in out.splitlines()]
    outputs = [e for e in events if e["type"] == "tool_result"]
    assert len(outputs) == MAX_CALLS_KEPT
    assert sum("fewer at a time" not in e["output"] for e in outputs) == MAX_TOOL_CALLS
    assert events[-1]["reason"] == "max_steps"


# -- item 4 again, through the real command line ---------------------------------------


def cli(state: Path, *args: str, key: str = "sk-test") -> subprocess.CompletedProcess[str]:
    env = clean_env(MOONSHOT_API_KEY=key, KIMITUI_STATE_DIR=str(state))
    return kimitui(*args, env=env)


@pytest.mark.parametrize("json_mode", [False, True], ids=["text", "jsonl"])
def test_headless_prints_saves_resumes_and_exports_a_non_utf8_name(
    tmp_path: Path, json_mode: bool
) -> None:
    project, state = tmp_path / "proj", tmp_path / "state"
    project.mkdir()
    make_bad_name(project)
    mode = ["--json"] if json_mode else []
    turns = [
        Turn(tool_calls=(ToolCallSpec("list_files", {}),)),
        Turn(tool_calls=(ToolCallSpec("read_file", {"path": SHOWN_NAME}),)),
        Turn(content=f"{SHOWN_NAME} holds one line."),
        Turn(content="Still there."),
    ]
    server = ScriptedServer(turns)
    with server.run_in_thread() as base_url:
        first = cli(
            state, str(project), "--headless", *mode, "--task", "look", "--base-url", base_url
        )
        again = cli(state, "--resume", "last", str(project), "--headless", *mode, "--task", "more")
        del base_url
    assert (first.returncode, again.returncode) == (0, 0), first.stderr + again.stderr
    assert "Traceback" not in first.stderr + again.stderr
    escaped = "caf\\xe9-\\xff.py"  # what a terminal gets: the bytes shown, never raw
    if json_mode:
        events = [json.loads(line) for line in first.stdout.splitlines()]
        read = [e for e in events if e["type"] == "tool_result"][1]
        assert read["ok"] and read["output"].startswith(SHOWN_NAME)  # exact, once parsed
    else:
        assert f"says: {escaped} holds one line." in first.stdout
    assert "Still there." in again.stdout
    # Markdown shows the bytes; JSON keeps the escape json.loads reads back exactly.
    for fmt, shown in (("md", escaped), ("json", "caf\\udce9-\\udcff.py")):
        export = cli(state, "export", "last", "--format", fmt)
        assert export.returncode == 0, export.stderr
        assert shown in export.stdout
    assert server.errors == []


# -- item 7: the key and the URL's credentials are never shown or saved ---------------

KEY = "sk-wrong-LEAKME-0123456789"
PASSWORD = "PASSWORD-LEAK-42"
QUERY_SECRET = "QUERY-LEAK-777"


@pytest.mark.parametrize(
    "credentials",
    [f"?api_key={QUERY_SECRET}", f"alice:{PASSWORD}@ ?token={QUERY_SECRET}"],
    ids=["key in the query", "user:password and a token"],
)
def test_a_401_echoing_the_authorization_header_leaks_nothing(
    tmp_path: Path, credentials: str
) -> None:
    project, state = tmp_path / "proj", tmp_path / "state"
    project.mkdir()
    userinfo, _, query = (
        credentials.rpartition(" ") if " " in credentials else ("", "", credentials)
    )
    rejected = Fault(
        "status",
        status=401,
        error_type="invalid_authentication_error",
        message="Invalid Authentication",
        echo_authorization=True,
    )
    server = ScriptedServer([Turn(content="never", faults=(rejected, rejected))])
    with server.run_in_thread() as base_url:
        url = base_url.replace("://", f"://{userinfo}") + query
        runs = [
            cli(
                state, str(project), "--headless", *mode, "--task", "hi", "--base-url", url, key=KEY
            )
            for mode in ([], ["--json"])
        ]
    echoed = [h["authorization"] for h in server.request_headers]
    assert len(echoed) == 2 and all(KEY in e or "Basic " in e for e in echoed)  # it was sent
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    secrets = (KEY, PASSWORD, QUERY_SECRET, basic)
    for run in runs:
        assert run.returncode == 1, run.stderr
        assert "401 Invalid Authentication" in run.stdout
        assert not any(s in run.stdout + run.stderr for s in secrets)
    saved = "".join(p.read_text() for p in state.rglob("*.jsonl"))
    assert "401 Invalid Authentication" in saved and "***" in saved
    assert not any(s in saved for s in secrets)
    for fmt in ("md", "json"):
        export = cli(state, "export", "last", "--format", fmt)
        assert "401 Invalid Authentication" in export.stdout
        assert not any(s in export.stdout for s in secrets)


async def test_the_tui_finishes_a_recorded_run_over_a_non_utf8_name(
    tmp_path: Path, state: Path
) -> None:
    """The original failure: the transcript writer raised, and the TUI hung on "running"."""
    from tui_helpers import SIZE, make_project, served_app, wait_for

    project = make_project(tmp_path)
    make_bad_name(project)
    turns = [Turn(tool_calls=(ToolCallSpec("list_files", {}),)), Turn(content="Listed.")]
    async with served_app(project, turns, task="list the files") as (app, server):
        recorder = start_session(app.agent, task="list the files")  # before any event
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.agent.state == "done" and not app.run_active)
            assert app.loop_state == "done"
        recorder.close()
    assert server.errors == []
    transcript = load_transcript(recorder.path)
    assert transcript.ended == "finished"
    assert any(SHOWN_NAME in str(m.get("content")) for m in transcript.messages)


def test_calls_cut_by_a_crash_keep_their_place_past_the_run_limit() -> None:
    """Resumed, a call beyond the first MAX_TOOL_CALLS of its answer must still not run."""
    calls = [
        {"id": f"c{n}", "type": "function", "function": {"name": "list_files", "arguments": "{}"}}
        for n in range(MAX_TOOL_CALLS + 8)
    ]
    answered = [{"role": "tool", "tool_call_id": f"c{n}", "content": "ok"} for n in range(10)]
    messages = [{"role": "user", "content": "go"}, {"role": "assistant", "tool_calls": calls}]
    fixed = repair([*messages, *answered], {})
    assert [d.index for d in fixed.pending] == list(range(10, MAX_TOOL_CALLS + 8))
    assert fixed.notes[-1].count("list_files") == 8 and fixed.notes[-1].endswith("now")
