"""Sessions: the transcript on disk, resume after a crash, `sessions` and `export`."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from test_cli import clean_env, demo_folder, kimitui, run_pytest

from kimitui.config import Settings
from kimitui.core import events as ev
from kimitui.core.catalog import find_session, session_files
from kimitui.core.gate import AutoGate
from kimitui.core.resume import repair
from kimitui.core.session import resume_session, start_session
from kimitui.core.transcript import Transcript, load_transcript
from kimitui.demo.script import ToolCallSpec, Turn
from kimitui.demo.server import ScriptedServer
from kimitui.headless import run_headless
from kimitui.wiring import Endpoint, build_agent

# Steps of an uninterrupted demo run: survey, read, models, logic, app, test, fix, test, summary.
DEMO_STEPS = 9


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "state"
    monkeypatch.setenv("KIMITUI_STATE_DIR", str(folder))
    return folder


def env_for(state: Path, **extra: str) -> dict[str, str]:
    return clean_env(KIMITUI_STATE_DIR=str(state), **extra)


def only_transcript(state: Path) -> Transcript:
    files = list((state / "sessions").glob("*/*.jsonl"))
    assert len(files) == 1, files
    return load_transcript(files[0])


def steps_started(t: Transcript) -> list[int]:
    return [e["n"] for e in t.events() if e["type"] == "step"]


def assert_order_rule(messages: list[dict[str, Any]]) -> None:
    """Every assistant tool call is answered before anything else follows."""
    pending: set[str] = set()
    for msg in messages:
        if msg["role"] == "tool":
            pending.discard(msg["tool_call_id"])
            continue
        assert not pending, f"unanswered tool calls {pending} before a {msg['role']} message"
        pending = {c["id"] for c in msg.get("tool_calls") or []}
    assert not pending


# -- crash and resume, end to end ----------------------------------------------------


def start_demo_and_kill_after_an_edit(target: Path, env: dict[str, str]) -> list[str]:
    """Run the paced headless demo; SIGKILL it as soon as an edit was approved."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimitui", str(target), "--demo", "--headless", "--approve", "auto"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if re.search(r"\] approved ", line):
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    return seen


def test_a_killed_demo_resumes_and_finishes_without_repeating_steps(
    tmp_path: Path, state: Path
) -> None:
    target = tmp_path / "demo"
    env = env_for(state)
    seen = start_demo_and_kill_after_an_edit(target, {**env, "KIMITUI_DEMO_TPS": "400"})
    assert not any(line.startswith("done (") for line in seen)
    before = only_transcript(state)
    assert before.ended == "unfinished"
    steps_before = steps_started(before)

    proc = kimitui("--demo", "--headless", "--approve", "auto", "--resume", "last", env=env)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert demo_folder(proc.stdout) == target.resolve()  # the same folder, no fresh sample
    assert f"resumed session {before.id}" in proc.stdout
    tests = run_pytest(target)
    assert tests.returncode == 0, tests.stdout
    after = only_transcript(state)
    steps = steps_started(after)
    # Numbering carries on, and at most the one step in flight at the kill is run again.
    assert steps == list(range(1, len(steps) + 1))
    assert steps[: len(steps_before)] == steps_before
    assert len(steps) <= DEMO_STEPS + 1
    # Each edit was decided once: the two writes of app.py are the plan, not a repeat.
    decided = [(r["path"], r["verdict"]) for r in after.of_kind("journal")]
    assert decided == [(p, "approved") for p in ("models.py", "logic.py", "app.py", "app.py")]
    assert after.ended == "finished"
    assert_order_rule(after.messages)


def test_state_dir_holds_neither_the_api_key_nor_a_secret_file(tmp_path: Path, state: Path) -> None:
    key, secret = "sk-live-7c1d0e5f9a2b4c6d", "hunter2-planted-secret-value"
    project = tmp_path / "proj"
    project.mkdir()
    (project / ".env").write_text(f"DB_PASSWORD={secret}\n")
    (project / "a.py").write_text("x = 1\n")
    turns = [
        Turn(tool_calls=(ToolCallSpec("read_file", {"path": ".env"}),)),
        Turn(tool_calls=(ToolCallSpec("search", {"pattern": "hunter2"}),)),
        Turn(tool_calls=(ToolCallSpec("write_file", {"path": "a.py", "content": "x = 2\n"}),)),
        Turn(content="Done."),
    ]
    server = ScriptedServer(turns, api_key=key)
    with server.run_in_thread() as base_url:
        proc = kimitui(
            str(project),
            *("--headless", "--approve", "auto", "--task", "read .env", "--base-url", base_url),
            env=env_for(state, MOONSHOT_API_KEY=key),
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert server.errors == []
    transcript = only_transcript(state)
    assert "withheld" in json.dumps(transcript.messages)
    files = [p for p in state.rglob("*") if p.is_file()]
    assert files
    for file in files:
        data = file.read_bytes()
        assert key.encode() not in data, file
        assert secret.encode() not in data, file
    assert stat.S_IMODE(transcript.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(transcript.path.parent.stat().st_mode) == 0o700


# -- export --------------------------------------------------------------------------


class MarkdownSnapshot(SingleFileSnapshotExtension):
    _file_extension = "md"
    _write_mode = WriteMode.TEXT


def normalise(markdown: str, project: Path, session_id: str) -> str:
    text = markdown.replace(str(project), "<project>").replace(session_id, "<id>")
    text = re.sub(r"- started: \S+", "- started: <started>", text)
    text = re.sub(r"\b\d+\.\d+s\b", "<secs>", text)  # pytest's timings
    # Traceback frames name the interpreter's own files, which differ per machine.
    text = re.sub(r"Traceback:\n.*?\n(?=E   )", "Traceback:\n<frames>\n", text, flags=re.DOTALL)
    # Token counts follow the prompt size, which follows the temp path's length.
    text = re.sub(r"\*Tokens: [^*]+\*", "*Tokens: <counts>*", text)
    return re.sub(r"^\| \d+ \|.*\|$", "| <totals> |", text, flags=re.MULTILINE)


@dataclass(frozen=True)
class FinishedDemo:
    state: Path
    target: Path
    transcript: Transcript

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return kimitui(*args, env=env_for(self.state), cwd=cwd)


@pytest.fixture(scope="module")
def finished_demo(tmp_path_factory: pytest.TempPathFactory) -> FinishedDemo:
    """One whole demo run, shared by the tests that only read its session."""
    root = tmp_path_factory.mktemp("finished")
    state, target = root / "state", root / "demo"
    run = kimitui(str(target), "--demo", "--headless", "--approve", "auto", env=env_for(state))
    assert run.returncode == 0, run.stderr
    return FinishedDemo(state, target.resolve(), only_transcript(state))


def test_export_of_the_demo_session_is_pinned(finished_demo: FinishedDemo, snapshot: Any) -> None:
    transcript = finished_demo.transcript
    proc = finished_demo.run("export", transcript.id[:8])

    assert proc.returncode == 0, proc.stderr
    assert "```diff\n" in proc.stdout and "<details><summary>Reasoning</summary>" in proc.stdout
    pinned = normalise(proc.stdout, finished_demo.target, transcript.id)
    assert pinned == snapshot(extension_class=MarkdownSnapshot)


def test_a_headless_run_journals_its_edits_for_undo(finished_demo: FinishedDemo) -> None:
    from kimitui.core.journal import Journal

    journal = Journal.for_session(finished_demo.transcript.id, directory=finished_demo.state)
    applied = [(e.path, e.tool) for e in journal.undoable]
    assert applied == [(p, "write_file") for p in ("models.py", "logic.py", "app.py", "app.py")]
    last = journal.last
    assert last is not None and last.after == (finished_demo.target / "app.py").read_text()
    assert stat.S_IMODE(journal.file.stat().st_mode) == 0o600


def test_export_json_and_to_a_file(finished_demo: FinishedDemo, tmp_path: Path) -> None:
    out = tmp_path / "session.json"
    proc = finished_demo.run("export", "last", "--format", "json", "-o", str(out))
    assert proc.returncode == 0 and proc.stdout == ""
    doc = json.loads(out.read_text())
    assert doc["session"]["demo"] is True
    assert doc["messages"] == finished_demo.transcript.messages
    assert doc["records"][0]["kind"] == "header"
    missing = finished_demo.run("export", "nope")
    assert missing.returncode == 2 and "no session 'nope'" in missing.stderr


def test_sessions_lists_a_table(finished_demo: FinishedDemo, tmp_path: Path) -> None:
    every = finished_demo.run("sessions")
    one = finished_demo.run("sessions", str(finished_demo.target))
    none = finished_demo.run("sessions", str(tmp_path))

    assert every.returncode == 0 and one.returncode == 0, every.stderr
    assert every.stdout == one.stdout
    header, *rows = one.stdout.splitlines()
    columns = ["ID", "PROJECT", "STARTED", "STEPS", "TOKENS", "COST", "ENDED", "TASK"]
    assert header.split() == columns
    assert len(rows) == 1
    cells = rows[0].split()
    assert cells[0] == finished_demo.transcript.id and cells[1] == "demo"
    assert cells[4] == str(DEMO_STEPS) and cells[6] == "—" and cells[7] == "finished"
    assert rows[0].endswith("…") and "Split app.py by concern" in rows[0]
    assert none.returncode == 0 and "no saved sessions for" in none.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["{tmp}", "--headless", "--resume", "last"], "no saved session"),
        (["--headless", "--resume", "0123456789abcdef"], "no session"),
    ],
)
def test_resume_without_a_session_is_a_usage_error(
    tmp_path: Path, state: Path, args: list[str], needle: str
) -> None:
    env = env_for(state, MOONSHOT_API_KEY="sk-test")
    proc = kimitui(*[a.format(tmp=tmp_path) for a in args], env=env, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert needle in proc.stderr


def test_resuming_a_finished_session_headless_needs_a_task(
    finished_demo: FinishedDemo, tmp_path: Path
) -> None:
    proc = finished_demo.run(str(finished_demo.target), "--demo", "--headless", "--resume")
    assert proc.returncode == 2 and "give --task" in proc.stderr
    sid = finished_demo.transcript.id
    proc = finished_demo.run(str(tmp_path), "--demo", "--headless", "--resume", sid)
    assert proc.returncode == 2 and "belongs to" in proc.stderr


# -- in process: recording, repair and the prompt cache key --------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "a.py").write_text("x = 1\n")
    return root


def call(name: str, **args: Any) -> ToolCallSpec:
    return ToolCallSpec(name, args)


def agent_on(project: Path, base_url: str, session_id: str | None = None, **settings: Any) -> Any:
    endpoint = Endpoint(base_url, "sk-test")
    return build_agent(Settings(**settings), project, endpoint, AutoGate(), session_id=session_id)


async def test_resume_keeps_the_cache_key_and_reruns_a_step_cut_before_its_tools(
    project: Path, state: Path
) -> None:
    turns = [
        Turn(reasoning="Look.", tool_calls=(call("read_file", path="a.py"),)),
        Turn(tool_calls=(call("write_file", path="a.py", content="x = 2\n"),)),
        Turn(tool_calls=(call("write_file", path="a.py", content="x = 2\n"),)),
        Turn(content="Done."),
    ]
    async with ScriptedServer(turns) as server:
        first = agent_on(project, server.base_url, max_steps=2)
        recorder = start_session(first, task="set x to 2")
        await first.run("set x to 2")
        await first.client.close()
        recorder.close()
        # Cut the file right after step 2's assistant message: its tool never ran.
        path = recorder.path
        lines = path.read_text().splitlines(keepends=True)
        cut = next(i for i, line in enumerate(lines) if '"i":4' in line)
        path.write_text("".join(lines[: cut + 1]))
        (project / "a.py").write_text("x = 1\n")

        transcript = load_transcript(path)
        second = agent_on(project, server.base_url, session_id=transcript.id)
        seen: list[ev.Event] = []
        second.subscribe(seen.append)
        recorder = resume_session(second, transcript)
        done = await second.run(None)
        await second.client.close()
        recorder.close()

    assert done.reason == "finished"
    assert (project / "a.py").read_text() == "x = 2\n"
    assert {r["prompt_cache_key"] for r in server.requests} == {transcript.id}
    # Step 2's write ran on resume without asking the model again: the next request
    # carries step 2's assistant message and the result of its call.
    resumed_request = server.requests[2]["messages"]
    assert resumed_request[:-1] == server.requests[1]["messages"] + [second.messages[4]]
    assert resumed_request[-1]["tool_call_id"] == second.messages[4]["tool_calls"][0]["id"]
    # Diffed against the file as it is now (x = 1 again), not as it was at the cut.
    assert resumed_request[-1]["content"] == "Applied write_file to a.py (+1 -1)."
    # Two steps before the cut, two after it; none asked twice.
    assert second.budget.steps == 4 and len(server.requests) == 4
    assert any("run again now (write_file)" in n.text for n in recorder.notices)
    final = load_transcript(path)
    assert not final.of_kind("messages_reset")  # the resume only appended
    assert final.messages == second.messages
    assert_order_rule(final.messages)


async def test_an_edit_pending_at_the_gate_is_proposed_again_against_the_file_now(
    project: Path, state: Path
) -> None:
    from kimitui.core.gate import AskGate

    turns = [
        Turn(tool_calls=(call("write_file", path="a.py", content="x = 2\n"),)),
        Turn(content="Done."),
    ]
    async with ScriptedServer(turns) as server:
        gate = AskGate()
        first = build_agent(Settings(), project, Endpoint(server.base_url, "k"), gate)
        recorder = start_session(first, task="set x to 2")
        run = asyncio.create_task(first.run("set x to 2"))
        async with asyncio.timeout(10):
            while gate.current is None:
                await asyncio.sleep(0.01)
        run.cancel()  # the process dies while the edit waits for the user
        with pytest.raises(asyncio.CancelledError):
            await run
        await first.client.close()
        recorder.close()
        (project / "a.py").write_text("x = 1\ny = 5\n")  # changed while kimitui was down

        transcript = load_transcript(recorder.path)
        second = agent_on(project, server.base_url, session_id=transcript.id)
        proposed: list[ev.EditProposed] = []
        second.subscribe(lambda e: proposed.append(e) if isinstance(e, ev.EditProposed) else None)
        resumed = resume_session(second, transcript)
        done = await second.run(None)
        await second.client.close()
        resumed.close()

    assert done.reason == "finished" and len(server.requests) == 2
    [again] = proposed
    assert "-y = 5" in again.diff and (again.added, again.removed) == (1, 2)
    assert (project / "a.py").read_text() == "x = 2\n"
    assert_order_rule(load_transcript(recorder.path).messages)


def assistant(*ids: str) -> dict[str, Any]:
    calls = [
        {"id": i, "type": "function", "function": {"name": "x", "arguments": "{}"}} for i in ids
    ]
    return {"role": "assistant", "reasoning_content": "", "tool_calls": calls}


def tool(call_id: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": "ok"}


BASE = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]


def test_repair_answers_decided_calls_and_queues_the_rest() -> None:
    decided = {"c2": {"id": "c2", "path": "a.py", "verdict": "approved"}}
    fixed = repair([*BASE, assistant("c1", "c2", "c3"), tool("c1")], decided)
    assert [m.get("tool_call_id") for m in fixed.messages[-2:]] == ["c1", "c2"]
    assert "approved this edit to a.py" in fixed.messages[-1]["content"]
    assert [(d.id, d.name, d.arguments) for d in fixed.pending] == [("c3", "x", "{}")]
    assert any("from the journal" in n for n in fixed.notes)
    assert any("1 tool call(s) cut short" in n for n in fixed.notes)


def test_repair_keeps_a_whole_step_and_a_decided_edit() -> None:
    whole = [*BASE, assistant("c1"), tool("c1")]
    fixed = repair(whole, {})
    assert (fixed.messages, fixed.pending, fixed.notes) == (whole, [], [])
    rejected = {"c1": {"id": "c1", "path": "a.py", "verdict": "rejected", "feedback": "no"}}
    fixed = repair([*BASE, assistant("c1")], rejected)
    assert fixed.messages[-1]["content"].startswith("The user rejected this edit to a.py")
    assert "Feedback: no" in fixed.messages[-1]["content"] and not fixed.pending
    assert_order_rule(fixed.messages)
    untouched = repair([*BASE, assistant("c1")], {})
    assert untouched.messages == [*BASE, assistant("c1")]
    assert [d.id for d in untouched.pending] == ["c1"]


def test_recorder_stores_a_reset_when_earlier_messages_change(project: Path, state: Path) -> None:
    agent = agent_on(project, "http://127.0.0.1:9/v1")
    recorder = start_session(agent, task="t")
    agent.messages.append({"role": "user", "content": "first"})
    agent.messages.append(tool("c1"))
    agent.emit(ev.StepStarted(1))
    agent.messages[2]["content"] = "[shortened]"  # compaction edits in place
    agent.emit(ev.StepStarted(2))
    agent.messages[1:3] = [{"role": "user", "content": "[summary]"}]  # then replaces
    agent.messages.append({"role": "user", "content": "next"})
    agent.emit(ev.Notice("x"))
    recorder.close()

    transcript = load_transcript(recorder.path)

    assert len(transcript.of_kind("messages_reset")) == 2
    assert transcript.messages == agent.messages
    assert [m["content"] for m in transcript.messages[1:]] == ["[summary]", "next"]


def test_find_session_by_prefix_and_last(project: Path, state: Path) -> None:
    ids = []
    for _ in range(2):
        agent = agent_on(project, "http://127.0.0.1:9/v1")
        start_session(agent, task="t").close()
        ids.append(agent.client.session_id)
    assert find_session("last", project=project).stem == ids[-1]
    assert find_session(ids[0][:10]).stem == ids[0]
    assert len(session_files()) == 2 and session_files(project.parent) == []


def iter_lines(path: Path) -> Iterator[dict[str, Any]]:
    for line in path.read_text().splitlines():
        yield json.loads(line)


def test_header_never_holds_credentials(project: Path, state: Path) -> None:
    agent = agent_on(project, "https://user:sk-secret@example.com/v1?key=sk-secret")
    recorder = start_session(agent, task="t")
    agent.emit(
        ev.SessionStarted(agent.client.session_id, str(project), "m", "https://u:sk-secret@x/v1")
    )
    recorder.close()
    text = recorder.path.read_text()
    assert "sk-secret" not in text
    header = next(iter_lines(recorder.path))
    assert header["base_url"] == "https://example.com/v1"


async def test_a_truncated_last_line_resumes_with_a_notice(project: Path, state: Path) -> None:
    turns = [
        Turn(tool_calls=(call("read_file", path="a.py"),)),
        Turn(tool_calls=(call("write_file", path="a.py", content="x = 2\n"),)),
        Turn(content="Done."),
    ]
    async with ScriptedServer(turns) as server:
        first = agent_on(project, server.base_url, max_steps=2)
        recorder = start_session(first, task="set x to 2")
        assert (await first.run("set x to 2")).reason == "max_steps"
        await first.client.close()
        recorder.close()
        data = recorder.path.read_bytes()
        recorder.path.write_bytes(data[:-25])  # the end record, cut mid-write

        transcript = load_transcript(recorder.path)
        second = agent_on(project, server.base_url, session_id=transcript.id)
        seen: list[ev.Event] = []
        second.subscribe(seen.append)
        resumed = resume_session(second, transcript)
        code = await run_headless(second, None, json_mode=True, notices=resumed.notices)
        resumed.close()

    assert code == 0 and server.errors == []
    notices = [e.text for e in seen if isinstance(e, ev.Notice)]
    assert any(re.match(r"transcript line \d+ is cut short", n) for n in notices), notices
    assert seen[-1] == ev.Done("finished", "Done.")
    # Appending started on a fresh line: only the cut line itself is unreadable.
    after = load_transcript(recorder.path)
    assert len(after.problems) == 1 and "not valid JSON" in after.problems[0]
    assert after.ended == "finished"


async def test_the_tui_shows_earlier_steps_and_continues_a_resumed_session(
    project: Path, state: Path
) -> None:
    from kimitui.tui.app import KimiApp
    from kimitui.tui.history import earlier_events

    turns = [
        Turn(reasoning="First I read a.py.", tool_calls=(call("read_file", path="a.py"),)),
        Turn(tool_calls=(call("write_file", path="a.py", content="x = 2\n"),)),
        Turn(content="Done."),
    ]
    async with ScriptedServer(turns) as server:
        first = agent_on(project, server.base_url, max_steps=1)
        recorder = start_session(first, task="set x to 2")
        await first.run("set x to 2")
        await first.client.close()
        recorder.close()
        second = agent_on(project, server.base_url, session_id=recorder.id)
        transcript = load_transcript(recorder.path)
        resumed = resume_session(second, transcript)
        notices = [(n.level, n.text) for n in resumed.notices]
        history = earlier_events(transcript.events())
        app = KimiApp(second, watch=False, notices=notices, continue_run=True, history=history)
        async with app.run_test(size=(120, 40)) as pilot:
            shown = app.transcript.plain  # before the resumed run adds anything
            async with asyncio.timeout(10):
                while second.state != "done":
                    await pilot.pause(0.05)
            rows = [(r.step, r.name, r.status) for r in app.tools.records.values()]
        resumed.close()

    assert (project / "a.py").read_text() == "x = 2\n"
    assert len(server.requests) == 3 and second.budget.steps == 3
    lines = shown.splitlines()
    assert lines[0].startswith("earlier in this session: 1 step(s), 1 tool call(s)")
    assert any("you ▸ set x to 2" in line for line in lines)
    # The earlier step is folded to its summary; its reasoning is not spelled out.
    assert any("step 1 · thought 18 chars · read_file(a.py)" in line for line in lines)
    assert "First I read a.py." not in shown
    assert "── resumed here ──" in shown
    assert rows[0] == (1, "read_file", "ok") and rows[1][:2] == (2, "write_file")


def test_events_read_back_from_a_transcript_are_the_events_written() -> None:
    written = [
        ev.StepStarted(3),
        ev.ToolCall("c1", "read_file", {"path": "a.py"}),
        ev.ToolOutput("c1", "read_file", True, "1 x = 1", 0.01),
        ev.UserMessage("go on", "steer"),
        ev.Done("finished", "ok"),
    ]
    assert [ev.event_from_dict(e.to_dict()) for e in written] == written
    assert ev.event_from_dict({"type": "no-such-event"}) is None
    assert ev.event_from_dict({"type": "step"}) is None  # its n is missing
