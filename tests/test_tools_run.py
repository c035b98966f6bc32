"""run_tests: real subprocesses, process-group kills, scrubbed environment, summary."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest
from proctools import running, wait_gone, wait_running

from kimitui.sandbox import RunResult, Sandbox
from kimitui.tools import Toolbox, Workspace
from kimitui.tools.testing import parse_counts, project_python, summarize

# Spawns a grandchild that sleeps with a token in its command line (seen from
# the host's /proc even inside a pid namespace), then the child sleeps too.
SPAWNER = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", sys.argv[1]])
print("spawned", flush=True)
time.sleep(60)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "test_math.py").write_text(
        "def test_ok():\n    assert 1 + 1 == 2\n\n\ndef test_bad():\n    assert 1 + 1 == 3\n"
    )
    return root


async def test_pytest_summary_first_then_tail(project: Path) -> None:
    result = await Toolbox(Workspace(project)).call("c", "run_tests", {})
    assert not result.ok
    first, command = result.output.splitlines()[:2]
    assert first.startswith("run_tests: FAILED (exit code 1): 1 failed, 1 passed in ")
    assert command == "$ python -m pytest -q -p no:cacheprovider --color=no"
    assert "assert (1 + 1) == 3" in result.output or "assert 2 == 3" in result.output
    # nothing unapproved lands in the project: no cache, no bytecode
    assert sorted(p.name for p in project.iterdir()) == ["test_math.py"]


async def test_passing_run_is_ok_and_args_are_appended(project: Path) -> None:
    result = await Toolbox(Workspace(project)).call(
        "c", "run_tests", {"args": ["-k", "test_ok", "test_math.py"]}
    )
    assert result.ok
    assert result.output.startswith("run_tests: PASSED (exit code 0): 1 passed, 1 deselected in ")
    assert (
        "$ python -m pytest -q -p no:cacheprovider --color=no -k test_ok test_math.py"
        in result.output
    )


async def test_args_are_never_a_shell_string(project: Path) -> None:
    marker = project / "pwned"
    script = "import json, sys; print(json.dumps(sys.argv[1:]))"
    box = Toolbox(Workspace(project), test_command=[sys.executable, "-c", script], test_args=True)
    args = [f"; touch {marker}", "$(touch pwned)", "a b"]
    result = await box.call("c", "run_tests", {"args": args})
    assert result.ok
    assert json.loads(result.output.split("--- output ---\n", 1)[1]) == args
    assert not marker.exists()


async def test_output_tail_is_bounded(project: Path) -> None:
    script = "import sys\nfor i in range(20000): print('line', i)\nsys.exit(3)"
    box = Toolbox(Workspace(project), test_command=[sys.executable, "-c", script])
    result = await box.call("c", "run_tests", {})
    assert not result.ok
    assert result.output.startswith("run_tests: FAILED (exit code 3): no pytest summary line found")
    assert "--- last 4,000 of " in result.output
    assert result.output.rstrip().endswith("line 19999")
    assert len(result.output) < 4300


async def test_timeout_kills_the_whole_process_group(project: Path, tmp_path: Path) -> None:
    token = f"kimitui-test-{os.getpid()}-{time.monotonic_ns()}"
    box = Toolbox(
        Workspace(project),
        test_command=[sys.executable, "-c", SPAWNER, token],
        test_timeout=1.5,
    )
    started = time.monotonic()
    result = await box.call("c", "run_tests", {})
    assert time.monotonic() - started < 40  # killed, not left to its 60 s
    assert not result.ok
    assert result.output.startswith(
        "run_tests: TIMED OUT after 1.5s; the test process group was killed"
    )
    assert "spawned" in result.output
    assert wait_gone(token), "the sleeping grandchild outlived the timeout"


async def test_cancelling_the_task_kills_the_group_and_reraises(
    project: Path, tmp_path: Path
) -> None:
    token = f"kimitui-test-{os.getpid()}-{time.monotonic_ns()}"
    box = Toolbox(Workspace(project), test_command=[sys.executable, "-c", SPAWNER, token])
    task = asyncio.create_task(box.call("c", "run_tests", {}))
    assert await asyncio.to_thread(wait_running, token)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert wait_gone(token), "cancellation left the grandchild running"
    assert not running(token)


async def test_environment_comes_from_an_allowlist(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    leaky = {
        "MOONSHOT_API_KEY": "sk-should-not-leak-1",
        "GITHUB_PAT": "ghp_should-not-leak-2",
        "DATABASE_URL": "postgres://app:hunter2@db/app",
        "HTTPS_PROXY": "http://me:pw123456@proxy:3128",
        "SSH_AUTH_SOCK": "/tmp/ssh-agent.sock",
        "SENTRY_DSN": "https://abcdef123456@sentry.example/1",
        "GOOGLE_CREDENTIALS": '{"private_key": "should-not-leak-3"}',
    }
    for name, value in leaky.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KEEP_ME", "visible")
    monkeypatch.setenv("ALSO_KEY_VALUE", "prefix-sk-should-not-leak-1")
    script = "import json, os; print(json.dumps(dict(os.environ)))"
    box = Toolbox(
        Workspace(project),
        test_command=[sys.executable, "-c", script],
        api_key_env="MOONSHOT_API_KEY",
        sandbox=Sandbox(pass_env=["KEEP_ME", "ALSO_KEY_VALUE", "DATABASE_URL"]),
    )
    result = await box.call("c", "run_tests", {})
    assert result.ok, result.output
    env = json.loads(result.output.split("--- output ---\n", 1)[1].splitlines()[0])
    assert env["KEEP_ME"] == "visible"
    for name, value in leaky.items():
        assert name not in env
        assert value not in result.output
    # named in pass_env, but its value carries the API key / a URL password
    assert "ALSO_KEY_VALUE" not in env and "DATABASE_URL" not in env
    assert "not passed to the tests: ALSO_KEY_VALUE, DATABASE_URL" in result.output
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert "PATH" in env
    assert env["HOME"] != os.environ.get("HOME")


async def test_project_virtualenv_interpreter_is_used(project: Path) -> None:
    fake = project / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\necho "project venv python $*"\n')
    fake.chmod(0o755)
    assert project_python(project) == str(fake)
    result = await Toolbox(Workspace(project)).call("c", "run_tests", {"args": ["-x"]})
    assert result.ok
    assert "$ .venv/bin/python -m pytest -q -p no:cacheprovider --color=no -x" in result.output
    assert "project venv python -m pytest -q -p no:cacheprovider --color=no -x" in result.output


def test_project_python_defaults_to_ours(tmp_path: Path) -> None:
    assert project_python(tmp_path) == sys.executable


async def test_missing_command_is_a_tool_error(project: Path) -> None:
    box = Toolbox(Workspace(project), test_command=["definitely-not-a-command-xyz"])
    result = await box.call("c", "run_tests", {})
    assert not result.ok and result.output.startswith("error: could not start the test command")


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("....\n4 passed in 0.12s\n", "4 passed in 0.12s"),
        (
            "F.\n=== 1 failed, 1 passed, 2 warnings in 1.50s ===\n",
            "1 failed, 1 passed, 2 warnings in 1.50s",
        ),
        ("\n2 errors in 0.3s\n", "2 errors in 0.3s"),
        ("\nno tests ran in 0.01s\n", "no tests ran in 0.01s"),
        ("Traceback: boom\n", ""),
    ],
)
def test_parse_counts(output: str, expected: str) -> None:
    assert parse_counts(output) == expected


# -- what the model is shown ------------------------------------------------------


def _run(output: str, exit_code: int = 1, command: tuple[str, ...] = ("pytest",)) -> RunResult:
    return RunResult(command, exit_code, False, output, 0.1, 60.0)


def test_exit_4_is_a_usage_error_not_failed(tmp_path: Path) -> None:
    out = summarize(_run("ERROR: file or directory not found: nope.py\n", 4), tmp_path)
    assert out.startswith("run_tests: USAGE ERROR (exit code 4: pytest could not use its ")
    assert "FAILED" not in out.splitlines()[0]
    # Another test command's 4 means whatever that command says: only "not 0".
    other = summarize(_run("boom\n", 4, ("make", "test")), tmp_path)
    assert other.startswith("run_tests: FAILED (exit code 4)")


def test_ansi_escapes_never_reach_the_model(tmp_path: Path) -> None:
    coloured = (
        "\x1b[31mFAILED\x1b[0m test_a.py::test_x\n\x1b]0;title\x07\x1b[1m1 failed\x1b[0m in 0.1s\n"
    )
    out = summarize(_run(coloured), tmp_path)
    assert "\x1b" not in out and "\x07" not in out
    assert out.splitlines()[0] == "run_tests: FAILED (exit code 1): 1 failed in 0.1s"
    assert "FAILED test_a.py::test_x" in out


def test_failure_lines_before_the_tail_are_kept(tmp_path: Path) -> None:
    noise = "".join(f"captured log line {i} " + "x" * 60 + "\n" for i in range(400))
    output = (
        "F.\n"
        "_________________________ test_price _________________________\n"
        "    def test_price():\n"
        ">       assert price(10) == 12\n"
        "E       assert 11 == 12\n"
        "E        +  where 11 = price(10)\n"
        "\n"
        "tests/test_shop.py:7: AssertionError\n" + noise + "1 failed, 1 passed in 0.30s\n"
    )
    out = summarize(_run(output), tmp_path)
    assert len(out) < 4_300
    shown = out.split("--- last ", 1)[0]
    for line in (
        "_________________________ test_price _________________________",
        "E       assert 11 == 12",
        "E        +  where 11 = price(10)",
        "tests/test_shop.py:7: AssertionError",
    ):
        assert line in shown.splitlines()
    assert out.rstrip().endswith("1 failed, 1 passed in 0.30s")


async def test_a_missing_node_id_through_the_toolbox_is_a_usage_error(project: Path) -> None:
    result = await Toolbox(Workspace(project)).call(
        "c", "run_tests", {"args": ["test_missing.py::test_nothing"]}
    )
    assert not result.ok
    assert result.output.startswith("run_tests: USAGE ERROR (exit code 4: ")


async def test_forced_colour_is_stripped_from_a_real_run(project: Path) -> None:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--color=yes"]
    result = await Toolbox(Workspace(project), test_command=command).call("c", "run_tests", {})
    assert "\x1b" not in result.output
    assert result.output.startswith("run_tests: FAILED (exit code 1): 1 failed, 1 passed in ")
    assert "FAILED test_math.py::test_bad" in result.output
