"""The kimitui command as a user runs it: real processes, real exit codes."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from kimitui.demo.script import Turn
from kimitui.demo.server import ScriptedServer

KIMITUI = (sys.executable, "-m", "kimitui")
SAMPLE = Path(__file__).resolve().parents[1] / "kimitui" / "demo" / "sample"
CONTRACT_TYPES = {
    "session",
    "step",
    "reasoning",
    "content",
    "tool_call",
    "tool_result",
    "edit",
    "decision",
    "usage",
    "done",
}


# Every run saves its session: keep the suite's out of the user's state dir.
TEST_STATE_DIR = tempfile.mkdtemp(prefix="kimitui-test-state-")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "KEY" not in k and not k.startswith("KIMITUI")}
    env["KIMITUI_CONFIG"] = "/nonexistent/kimitui-config.toml"
    env["KIMITUI_STATE_DIR"] = TEST_STATE_DIR
    env.update(extra)
    return env


def kimitui(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kimitui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or clean_env(),
        cwd=cwd,
    )


def tree_hash(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def run_pytest(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )


def demo_folder(stdout: str) -> Path:
    line = next(line for line in stdout.splitlines() if line.startswith("demo project: "))
    return Path(line.removeprefix("demo project: "))


def test_demo_auto_refactors_and_the_tests_pass(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    proc = kimitui(str(target), "--demo", "--headless", "--approve", "auto")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert demo_folder(proc.stdout) == target.resolve()
    assert (target / "models.py").is_file() and (target / "logic.py").is_file()
    tests = run_pytest(target)
    assert tests.returncode == 0, tests.stdout
    assert "passed" in tests.stdout
    assert "done (finished)" in proc.stdout


def test_demo_without_project_uses_a_fresh_temp_dir() -> None:
    proc = kimitui("--demo", "--headless", "--approve", "auto", "--max-steps", "1")
    folder = demo_folder(proc.stdout)
    assert folder.is_dir() and (folder / "app.py").is_file()
    assert proc.returncode == 3


def test_demo_never_leaves_every_file_identical(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    proc = kimitui(str(target), "--demo", "--headless", "--json", "--approve", "never")
    assert proc.returncode == 0, proc.stderr
    assert tree_hash(target) == tree_hash(SAMPLE)
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    decisions = [e for e in events if e["type"] == "decision"]
    edits = [e for e in events if e["type"] == "edit"]
    assert decisions and len(decisions) == len(edits)
    assert {d["verdict"] for d in decisions} == {"rejected"}
    results = {e["id"]: e for e in events if e["type"] == "tool_result"}
    assert all("rejected" in results[d["id"]]["output"].lower() for d in decisions)


def test_demo_json_is_valid_jsonl_with_the_contract_types(tmp_path: Path) -> None:
    proc = kimitui(str(tmp_path / "d"), "--demo", "--headless", "--json", "--approve", "auto")
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert all(isinstance(e.get("type"), str) for e in events)
    assert {e["type"] for e in events} >= CONTRACT_TYPES
    assert events[0]["type"] == "session" and events[-1] == {
        "type": "done",
        "reason": "finished",
        "message": events[-1]["message"],
    }
    usage = [e for e in events if e["type"] == "usage"]
    assert all(u["prompt"] > 0 and u["total"] == u["prompt"] + u["completion"] for u in usage)
    assert "demo project:" in proc.stderr


@pytest.mark.parametrize(
    ("flag", "value"), [("--max-steps", "2"), ("--token-budget", "2000"), ("--time-budget", "0.01")]
)
def test_every_budget_ends_with_exit_3(tmp_path: Path, flag: str, value: str) -> None:
    proc = kimitui(str(tmp_path / "d"), "--demo", "--headless", "--approve", "auto", flag, value)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"raise it with {flag}" in proc.stdout


def test_missing_key_says_which_variable_to_set(tmp_path: Path) -> None:
    proc = kimitui(str(tmp_path), "--headless", "--task", "x")
    assert proc.returncode == 2
    assert "MOONSHOT_API_KEY" in proc.stderr
    proc = kimitui(str(tmp_path), "--headless", "--task", "x", "--api-key-env", "MY_KIMI")
    assert proc.returncode == 2 and "MY_KIMI" in proc.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["{tmp}/missing", "--headless", "--task", "x"], "does not exist"),
        (["{tmp}/file.txt", "--headless", "--task", "x"], "not a folder"),
        (["{tmp}", "--headless"], "--task"),
        (["{tmp}", "--task", "x"], "--headless"),
        (["{tmp}", "--headless", "--approve", "ask", "--task", "x"], "--approve ask"),
        (["{tmp}", "--headless", "--approve", "sometimes"], "invalid choice"),
        (["{tmp}", "--max-steps", "0"], "positive"),
        (["{tmp}", "--no-such-flag"], "unrecognized"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], needle: str) -> None:
    (tmp_path / "file.txt").write_text("x")
    env = clean_env(MOONSHOT_API_KEY="sk-test")
    proc = kimitui(*[a.format(tmp=tmp_path) for a in args], env=env)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr


def test_demo_refuses_a_non_empty_target(tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text("precious = True\n")
    proc = kimitui(str(tmp_path), "--demo", "--headless")
    assert proc.returncode == 2
    assert (tmp_path / "mine.py").read_text() == "precious = True\n"


def test_broken_config_file_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[budget]\nmax_steps = 'many'\n")
    env = clean_env(KIMITUI_CONFIG=str(config))
    proc = kimitui(str(tmp_path / "d"), "--demo", "--headless", env=env)
    assert proc.returncode == 2
    assert str(config) in proc.stderr and "max_steps" in proc.stderr


def test_401_exits_1_naming_the_base_url(tmp_path: Path) -> None:
    server = ScriptedServer([Turn(content="x")], api_key="sk-right")
    with server.run_in_thread() as base_url:
        env = clean_env(MOONSHOT_API_KEY="sk-wrong")
        proc = kimitui(str(tmp_path), "--headless", "--task", "hi", "--base-url", base_url, env=env)
    assert proc.returncode == 1
    assert base_url in proc.stdout and "api.moonshot.cn" in proc.stdout
    assert len(server.requests) == 1


def test_sigint_during_a_stream_exits_130(tmp_path: Path) -> None:
    server = ScriptedServer(
        [Turn(reasoning="Thinking slowly. " * 400, content="x")], tokens_per_second=100
    )
    with server.run_in_thread() as base_url:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kimitui",
                str(tmp_path),
                "--headless",
                "--json",
                "--task",
                "hi",
                "--base-url",
                base_url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(MOONSHOT_API_KEY="sk-test"),
        )
        deadline = time.monotonic() + 20
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert json.loads(out.splitlines()[-1])["reason"] == "interrupted"


def test_help_and_version_do_not_import_the_sdk_or_textual() -> None:
    code = (
        "import sys\nfrom kimitui import cli\n"
        "for flag in ('--help', '--version'):\n"
        "    try:\n        cli.main([flag])\n    except SystemExit:\n        pass\n"
        "print('openai' in sys.modules, 'textual' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip().splitlines()[-1] == "False False"
    assert "kimitui 0.1.0" in proc.stdout


# -- a closed pipe, the order of checks, the headless text ------------------------------


@pytest.mark.parametrize("mode", [["--json"], []])
def test_a_reader_that_stops_early_ends_the_run_quietly(tmp_path: Path, mode: list[str]) -> None:
    """`kimitui --demo --headless --json | head -2`: no traceback, exit 141 (128 + SIGPIPE)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimitui", str(tmp_path / "d"), "--demo", "--headless", *mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = [proc.stdout.readline(), proc.stdout.readline()]
    proc.stdout.close()  # what `head -2` does after its two lines
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141
    assert all(line.endswith("\n") for line in first)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_a_closed_pipe_after_the_session_list_is_quiet(tmp_path: Path) -> None:
    kimitui(str(tmp_path / "d"), "--demo", "--headless", "--max-steps", "1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimitui", "sessions"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) in (0, 141)
    assert "Traceback" not in err, err


def test_a_missing_folder_is_named_before_the_key_is_asked_for(tmp_path: Path) -> None:
    proc = kimitui(str(tmp_path / "nowhere"), "--headless", "--task", "x")
    assert proc.returncode == 2
    assert f"{tmp_path / 'nowhere'} does not exist" in proc.stderr
    assert "API key" not in proc.stderr


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [
        ("--max-steps", "abc", "--max-steps: expected a positive integer, got 'abc'"),
        ("--token-budget", "-5", "--token-budget: expected a positive integer, got '-5'"),
        ("--time-budget", "soon", "--time-budget: expected a positive number of seconds"),
    ],
)
def test_a_bad_number_names_the_flag_and_the_value(
    tmp_path: Path, flag: str, value: str, needle: str
) -> None:
    proc = kimitui(str(tmp_path), "--headless", "--task", "x", flag, value)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert "_positive" not in proc.stderr


def test_headless_prints_the_final_answer_once(tmp_path: Path) -> None:
    answer = "The answer is forty-two, said once."
    server = ScriptedServer([Turn(reasoning="easy", content=answer)])
    with server.run_in_thread() as base_url:
        env = clean_env(MOONSHOT_API_KEY="sk-test")
        proc = kimitui(str(tmp_path), "--headless", "--task", "hi", "--base-url", base_url, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(answer) == 1
    assert proc.stdout.splitlines()[-1] == "done (finished)"


def test_a_failed_401_call_is_not_a_step(tmp_path: Path) -> None:
    server = ScriptedServer([Turn(content="x")], api_key="sk-right")
    with server.run_in_thread() as base_url:
        env = clean_env(MOONSHOT_API_KEY="sk-wrong")
        proc = kimitui(str(tmp_path), "--headless", "--task", "hi", "--base-url", base_url, env=env)
    assert proc.returncode == 1
    assert proc.stdout.count("Invalid Authentication") == 1  # the error, not again in `done`
    listing = kimitui("sessions", str(tmp_path)).stdout.splitlines()
    header, row = (re.split(r"\s{2,}", line.strip()) for line in listing[:2])
    assert row[header.index("STEPS")] == "0"


def test_an_interrupted_stream_still_counts_its_tokens(tmp_path: Path) -> None:
    server = ScriptedServer(
        [Turn(reasoning="Thinking slowly. " * 400, content="x")], tokens_per_second=100
    )
    with server.run_in_thread() as base_url:
        proc = subprocess.Popen(
            [
                *KIMITUI,
                str(tmp_path),
                "--headless",
                "--json",
                "--task",
                "hi",
                "--base-url",
                base_url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(MOONSHOT_API_KEY="sk-test"),
        )
        assert proc.stdout is not None
        for line in proc.stdout:  # the first step has begun streaming
            if json.loads(line)["type"] == "step":
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    events = [json.loads(line) for line in out.splitlines()]
    usage = [e for e in events if e["type"] == "usage"]
    assert proc.returncode == 130
    assert len(usage) == 1 and usage[0]["prompt"] > 0 and usage[0]["reasoning"] > 0
    assert usage[0]["session_total"] == usage[0]["total"]
