"""The kimitui command as a user runs it: real processes, real exit codes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from kimitui.demo.script import Turn
from kimitui.demo.server import ScriptedServer

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
