"""`kimitui compare`: real runs against the scripted server over HTTP on loopback.

Every number the JSON reports is checked against the run's own saved
transcript, and the project the comparison ran on is checked byte for byte.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kimitui.cli import main
from kimitui.compare import workspace
from kimitui.compare.progress import Progress
from kimitui.compare.runner import Live, RunResult, RunSpec
from kimitui.compare.score import parse_tally
from kimitui.compare.table import markdown
from kimitui.config import ConfigError, Settings, read_config_file
from kimitui.core.catalog import find_session
from kimitui.core.transcript import load_transcript
from kimitui.demo import DEMO_TASK, copy_sample, demo_turns, sample_files
from kimitui.demo.refactor import demo_turn
from kimitui.demo.script import Fault, Turn
from kimitui.demo.server import ScriptedServer


def tree_hash(root: Path) -> dict[str, str]:
    """Every file under root (.git included) by its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def compare(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["compare", *args])
    out, err = capsys.readouterr()
    return code, out, err


def compare_json(
    capsys: pytest.CaptureFixture[str], *args: str, exit_code: int = 0
) -> dict[str, Any]:
    code, out, err = compare(capsys, *args, "--json")
    assert code == exit_code, err
    return json.loads(out)


def transcript_totals(path: str) -> dict[str, Any]:
    transcript = load_transcript(Path(path))
    spent = transcript.spent()
    calls: dict[str, int] = {}
    for event in transcript.events():
        if event.get("type") == "tool_call":
            calls[event["name"]] = calls.get(event["name"], 0) + 1
    retries = sum(1 for e in transcript.events() if e.get("type") == "retry")
    return {
        "steps": spent.steps,
        "prompt": spent.used.prompt,
        "cached": spent.used.cached,
        "completion": spent.used.completion,
        "reasoning": spent.used.reasoning,
        "cost": spent.cost,
        "tool_calls": dict(sorted(calls.items())),
        "retries": retries,
        "ended": transcript.ended,
    }


def config_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text)
    monkeypatch.setenv("KIMITUI_CONFIG", str(config))


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIMITUI_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("KIMITUI_DEMO_TPS", raising=False)


# -- the whole thing, offline ----------------------------------------------------------


def test_two_models_two_repeats_in_parallel_match_their_transcripts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "proj"  # --demo copies the sample into it
    data = compare_json(
        capsys, str(project), "--demo", "--repeat", "2", "--jobs", "2", "--out", str(tmp_path)
    )
    sample = {name: hashlib.sha256(data).hexdigest() for name, data in sample_files().items()}
    runs = data["runs"]
    assert sorted((r["model"], r["repeat"]) for r in runs) == [
        ("demo-terse", 1),
        ("demo-terse", 2),
        ("demo-thinker", 1),
        ("demo-thinker", 2),
    ]
    for run in runs:
        assert run["outcome"] == "finished", run["message"]
        totals = transcript_totals(run["transcript"])
        assert totals["ended"] == "finished"
        for key in ("steps", "prompt", "cached", "completion", "reasoning", "tool_calls"):
            assert run[key] == totals[key], key
        assert run["retries"] == totals["retries"] == 0
        assert run["cost"] is None  # the scripted models are unpriced
        assert (run["tests_passed"], run["tests_failed"], run["tests_ok"]) == (5, 0, True)
        diff = Path(run["diff_file"]).read_text()
        assert diff.count("diff --git ") == run["files_changed"] == 3
        assert "+++ b/models.py" in diff and "+++ b/logic.py" in diff
        assert run["added"] == diff.count("\n+") - diff.count("\n+++ ")
        assert Path(run["folder"], "models.py").is_file()  # the run's copy is kept
    assert tree_hash(project) == sample  # the project itself: untouched

    models = {m["label"]: m for m in data["models"]}
    assert list(models) == ["demo-thinker", "demo-terse"]
    for label, summary in models.items():
        mine = [r for r in runs if r["label"] == label]
        assert summary["outcomes"] == {"finished": 2, "budget": 0, "error": 0}
        assert summary["tests_ok"] == 2
        steps = [r["steps"] for r in mine]
        assert summary["measures"]["steps"] == {
            "median": statistics.median(steps),
            "min": min(steps),
            "max": max(steps),
        }
        assert summary["measures"]["completion"]["median"] == statistics.median(
            r["completion"] for r in mine
        )
        assert summary["tool_calls"]["write_file"]["max"] == max(
            r["tool_calls"]["write_file"] for r in mine
        )
    thinker, terse = models["demo-thinker"]["measures"], models["demo-terse"]["measures"]
    # Two different token profiles, both finishing.
    assert thinker["thinking_share"]["min"] > 0.5 > terse["thinking_share"]["max"]
    assert terse["steps"]["max"] < thinker["steps"]["min"]


def test_markdown_table_progress_and_sessions_that_resume_and_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "proj"
    code, out, err = compare(
        capsys, str(project), "--demo", "--model", "demo-terse", "--out", str(tmp_path / "runs")
    )
    assert code == 0, err
    table = out.split("\n\n")[0].splitlines()
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in table}
    assert rows[""] == "demo-terse (1 runs)"
    assert rows["outcome"] == "1 finished" and rows["tests passed"] == "5"
    assert rows["tests green"] == "1/1"
    assert rows["cost (USD)"] == "—" and rows["thinking share"].endswith("%")
    # Not a terminal: plain progress lines, no cursor movement.
    assert "\x1b" not in err
    assert any(
        line.startswith("demo-terse  #1") and "finished" in line for line in err.splitlines()
    )
    session_id = next(line.split("|")[4].strip() for line in out.splitlines() if "#1 " in line)
    transcript = load_transcript(find_session(session_id))
    assert (transcript.task, transcript.ended) == (DEMO_TASK, "finished")
    assert Path(transcript.project).parent.parent == tmp_path / "runs"
    assert main(["export", session_id]) == 0
    assert "Split complete" in capsys.readouterr().out
    # Resumable where it ran: a follow-up question gets the scripted follow-up answer.
    follow_up = ["--demo", "--headless", "--task", "all good?"]
    resumed = subprocess.run(
        [sys.executable, "-m", "kimitui", "--resume", session_id, *follow_up],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed session {session_id}: 7 step(s)" in resumed.stdout
    assert "The split is in place" in resumed.stdout


# -- budgets and broken servers ----------------------------------------------------------


def test_a_budget_stopped_run_is_reported_as_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = compare_json(
        capsys,
        str(tmp_path / "proj"),
        "--demo",
        "--model",
        "demo-thinker",
        "--max-steps",
        "2",
        "--out",
        str(tmp_path),
    )
    (run,) = data["runs"]
    assert (run["outcome"], run["reason"], run["steps"]) == ("budget", "max_steps", 2)
    assert transcript_totals(run["transcript"])["ended"] == "max_steps"
    assert data["models"][0]["outcomes"] == {"finished": 0, "budget": 1, "error": 0}


def test_a_failing_server_is_reported_as_error_with_its_retries_and_cost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "proj"
    copy_sample(project)
    # One good answer, then a server that answers 503 to every attempt at the next one.
    server = ScriptedServer([demo_turn, Turn(faults=(Fault.unavailable(),) * 8)])
    monkeypatch.setenv("FLAKY_KEY", "sk-test")
    with server.run_in_thread() as base_url:
        config_with(
            tmp_path,
            monkeypatch,
            f'[providers.flaky]\nbase_url = "{base_url}"\napi_key_env = "FLAKY_KEY"\n'
            "[providers.flaky.prices]\ninput = 1.0\ncached_input = 0.5\noutput = 2.0\n",
        )
        data = compare_json(
            capsys,
            str(project),
            "--task",
            "split app.py",
            "--model",
            "kimi-k2.7-code@flaky",
            "--out",
            str(tmp_path),
            exit_code=1,  # every run failed
        )
    (run,) = data["runs"]
    assert (run["outcome"], run["label"]) == ("error", "kimi-k2.7-code@flaky")
    assert "503" in run["message"]
    totals = transcript_totals(run["transcript"])
    assert run["retries"] == totals["retries"] == 3
    assert run["steps"] == totals["steps"] == 1
    prompt, cached, completion = run["prompt"], run["cached"], run["completion"]
    expected = ((prompt - cached) * 1.0 + cached * 0.5 + completion * 2.0) / 1e6
    assert run["cost"] == pytest.approx(expected) and run["cost"] == totals["cost"]
    assert run["files_changed"] == 0 and run["tests_passed"] == 5


# -- git projects --------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_a_git_project_gets_detached_worktrees_that_leave_no_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "repo"
    copy_sample(project)
    git(project, "init", "-q", "-b", "main")
    git(project, "add", ".")
    git(project, "commit", "-qm", "sample")
    # Uncommitted work and an untracked file are part of what the runs start from.
    (project / "test_app.py").write_bytes(sample_files()["test_app.py"] + b"\n# local note\n")
    (project / "NOTES.txt").write_text("untracked\n")
    (project / ".gitignore").write_text("ignored.log\n")
    (project / "ignored.log").write_text("never copied\n")
    refs = git(project, "for-each-ref")
    status = git(project, "status", "--porcelain")
    before = tree_hash(project)  # after `git status`, which may refresh the index
    server = ScriptedServer(demo_turns())
    monkeypatch.setenv("LOCAL_KEY", "sk-local")
    with server.run_in_thread() as base_url:
        config_with(
            tmp_path,
            monkeypatch,
            f'[providers.local]\nbase_url = "{base_url}"\napi_key_env = "LOCAL_KEY"\n',
        )
        data = compare_json(
            capsys, str(project), "--task", "split", "--model", "m@local", "--out", str(tmp_path)
        )
    (run,) = data["runs"]
    assert run["outcome"] == "finished", run["message"]
    folder = Path(run["folder"])
    assert (folder / "NOTES.txt").read_text() == "untracked\n"
    assert (folder / "test_app.py").read_bytes().endswith(b"# local note\n")
    assert not (folder / "ignored.log").exists()
    assert not (folder / ".git").exists()  # a plain copy now, no link into the repo
    assert "+++ b/models.py" in Path(run["diff_file"]).read_text()
    # The user's repository: same files, same refs, same status, one worktree.
    assert tree_hash(project) == before
    assert git(project, "for-each-ref") == refs
    assert git(project, "status", "--porcelain") == status
    assert git(project, "worktree", "list", "--porcelain").count("worktree ") == 1


# -- errors said before any run ------------------------------------------------------------


def test_an_unknown_provider_is_a_usage_error_naming_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config_with(
        tmp_path,
        monkeypatch,
        '[providers.vllm]\nbase_url = "http://x/v1"\napi_key_env = "VLLM_KEY"\n',
    )
    code, out, err = compare(capsys, str(tmp_path), "--task", "t", "--model", "a@nope")
    assert (code, out) == (2, "")
    assert "unknown provider 'nope' (known: vllm)" in err and "[providers.nope]" in err
    monkeypatch.delenv("VLLM_KEY", raising=False)
    code, _, err = compare(capsys, str(tmp_path), "--task", "t", "--model", "a@vllm")
    assert code == 2 and "no API key for a@vllm: set VLLM_KEY" in err


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = compare(capsys, str(tmp_path), "--model", "a")
    assert code == 2 and "--task TEXT is required" in err
    code, _, err = compare(capsys, str(tmp_path), "--task", "t")
    assert code == 2 and "--model A --model B" in err
    code, _, err = compare(capsys, str(tmp_path / "missing"), "--demo", "--model", "x@p")
    assert code == 2 and "scripted models, not providers" in err


def test_provider_config_is_checked(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[providers.p]\nbase_url = "http://h/v1"\napi_key_env = "K"\n')
    assert read_config_file(config)["providers"]["p"].api_key_env == "K"
    config.write_text('[providers.p]\nbase_url = "http://h/v1"\n')
    with pytest.raises(ConfigError, match=r"\[providers.p\]: api_key_env is missing"):
        read_config_file(config)
    config.write_text('[providers.p]\nbase_url = "u"\napi_key_env = "K"\nprices = {input = "x"}\n')
    with pytest.raises(ConfigError, match=r"prices\.input must be a number"):
        read_config_file(config)


def test_tally_parsing() -> None:
    line = "run_tests: FAILED (exit code 1): 2 failed, 3 passed, 1 error in 0.20s\n$ pytest"
    assert parse_tally(line) == (3, 3)
    assert parse_tally("run_tests: PASSED (exit code 0): 5 passed in 0.1s") == (5, 0)
    assert parse_tally("could not start the test command") == (0, 0)


# -- the table and the progress lines, on their own -----------------------------------------


def result(label: str, repeat: int, **values: Any) -> RunResult:
    run = RunResult(label, label, None, repeat)
    for key, value in values.items():
        setattr(run, key, value)
    return run


def test_the_table_gives_median_and_range_and_escapes_names() -> None:
    hostile = "evil\x1b[2J|name"
    runs = [
        result("a", 1, outcome="finished", steps=4, completion=100, reasoning=80),
        result("a", 2, outcome="budget", steps=9, completion=300, reasoning=60),
        result("a", 3, outcome="finished", steps=5, completion=200, reasoning=50),
        result(hostile, 1, outcome="error", steps=1, tool_calls={"read_file": 2}),
    ]
    table = markdown(runs)
    # Cells split on "|" but not on the escaped "\|" of a name.
    lines = [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in table.splitlines()]
    rows = {cells[0]: cells[1:] for cells in lines}
    assert rows[""] == ["a (3 runs)", "evil\\x1b[2J\\|name (1 runs)"]
    assert rows["steps"] == ["5 (4-9)", "1"]
    assert rows["outcome"] == ["2 finished, 1 budget", "1 error"]
    assert rows["thinking share"] == ["25% (20%-80%)", "—"]  # 60/300, 50/200, 80/100
    assert rows["tool calls"] == ["—", "read_file 2"]
    assert "\x1b" not in table


def test_progress_redraws_in_place_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    settings = Settings()
    specs = [RunSpec(i, f"m{i}", None, 1, settings, "k") for i in range(2)]
    lives = [Live(state="running", step=3, tokens=1234), Live()]
    screen = Terminal()
    progress = Progress(specs, lives, screen)
    progress.redraw()
    lives[0].state = "finished"
    progress.close()
    text = screen.getvalue()
    assert text.count("\x1b[2K") == 4 and "\x1b[2F" in text  # two lines, drawn twice
    assert "m0  #1  step   3      1,234 tok" in text and text.rstrip().endswith("waiting")
    assert "finished" in text.split("\x1b[2F")[1]


# -- copies and diffs, on their own ---------------------------------------------------------


def test_a_plain_folder_is_copied_by_the_ignore_rules_and_diffed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytest's tmp_path is under /tmp, which bwrap replaces: pretend it is elsewhere.
    monkeypatch.setattr(workspace, "SANDBOX_TMP", "/nonexistent-tmp")
    project = tmp_path / "plain"
    (project / "src").mkdir(parents=True)
    (project / "src" / "a.py").write_text("one\ntwo\n")
    (project / "gone.txt").write_text("bye\n")
    (project / "logo.bin").write_bytes(b"\x00\x01")
    (project / ".gitignore").write_text("*.log\n")
    (project / "debug.log").write_text("ignored\n")
    (project / "node_modules" / "x").mkdir(parents=True)
    (project / "node_modules" / "x" / "i.js").write_text("ignored\n")
    (project / "link.py").symlink_to("src/a.py")
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    before_project = tree_hash(project)
    copy = workspace.make_copy(project, tmp_path / "copy")
    assert copy.repo is None and copy.path == tmp_path / "copy"
    copied = sorted(
        str(p.relative_to(copy.path))
        for p in copy.path.rglob("*")
        if p.is_file() and ".venv" not in p.parts
    )
    assert copied == [".gitignore", "gone.txt", "link.py", "logo.bin", "src/a.py"]
    assert (copy.path / "link.py").is_symlink()
    # The virtualenv is not copied but linked, so the copy's tests run with its packages.
    assert (copy.path / ".venv").resolve() == (project / ".venv").resolve()
    before = workspace.snapshot(copy.path)
    (copy.path / "src" / "a.py").write_text("one\n2\nthree")
    (copy.path / "gone.txt").unlink()
    (copy.path / "new.txt").write_text("hi\n")
    (copy.path / "logo.bin").write_bytes(b"\x00\x02")
    found = workspace.changes(before, workspace.snapshot(copy.path))
    assert (found.files, found.added, found.removed) == (4, 3, 2)  # a.py +2 -1, gone -1, new +1
    assert "+++ /dev/null" in found.diff and "--- /dev/null" in found.diff
    assert "Binary files a/logo.bin and b/logo.bin differ" in found.diff
    assert "\\ No newline at end of file" in found.diff
    workspace.release(copy)  # not a worktree: nothing to unregister
    assert copy.path.is_dir() and tree_hash(project) == before_project
    # Under /tmp, bwrap's private /tmp would hide the venv: no link, the tests use our python.
    monkeypatch.setattr(workspace, "SANDBOX_TMP", str(tmp_path))
    assert not (workspace.make_copy(project, tmp_path / "copy2").path / ".venv").exists()
