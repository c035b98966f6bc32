"""Issue 21 items 4-6 and issue 14's secrets, through the Agent and the scripted server.

The model's tool calls come over real HTTP from kimitui's scripted server; each
test reads what the model was sent back in the next request.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kimitui.core import events as ev
from kimitui.core.gate import NeverGate
from kimitui.demo.script import Turn
from kimitui.demo.server import ScriptedServer
from tests.test_cli import clean_env
from tests.test_loop import agent_for, call, tool_messages


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


async def tool_results(project: Path, *calls, **kwargs) -> list[str]:
    """Run one turn of tool calls and return what the model got back, in order."""
    turns = [Turn(tool_calls=tuple(calls)), Turn(content="done")]
    async with agent_for(project, turns, **kwargs) as (agent, server, _seen):
        done = await agent.run("go")
    assert done.reason == "finished"
    return [m["content"] for m in tool_messages(server.requests[1])]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    write(root, ".venv/pyvenv.cfg", "home = /usr/bin\n")
    write(
        root,
        ".venv/lib/python3.12/site-packages/_pytest/main.py",
        "def wrap_session(config):\n    return config\n",
    )
    write(root, "docs/_build/html/api.html", "<p>wrap_session</p>\n")
    write(root, ".gitignore", "_build/\n")
    write(root, "app.py", "def main():\n\tif ready:\n\t\treturn wrap_session(1)\n")
    write(root, "min.js", "x=1;" * 6_250 + "wrap_session()" + ";y=2" * 100 + "\n")
    return root


# -- item 4: ignored paths named on purpose ------------------------------------------------


async def test_searching_a_named_ignored_folder_finds_and_says_so(project: Path) -> None:
    venv_pkg = ".venv/lib/python3.12/site-packages/_pytest"
    everywhere, in_venv, in_build = await tool_results(
        project,
        call("search", {"pattern": "def wrap_session"}),
        call("search", {"pattern": "def wrap_session", "path": venv_pkg}),
        call("search", {"pattern": "wrap_session", "path": "docs/_build"}),
    )
    assert everywhere == "no matches for 'def wrap_session'"
    assert in_venv.splitlines() == [
        f"{venv_pkg}/main.py:1:def wrap_session(config):",
        f"[note: {venv_pkg} is ignored (by .gitignore or the built-in rules for virtualenvs, "
        "node_modules, caches and build output); it was searched because you named it]",
        "[1 matching line in 1 file]",
    ]
    assert in_build.startswith("docs/_build/html/api.html:1:<p>wrap_session</p>\n[note: ")


# -- item 5: long lines ------------------------------------------------------------------


async def test_a_match_deep_in_a_long_line_is_shown_with_its_column(project: Path) -> None:
    (found,) = await tool_results(project, call("search", {"pattern": r"wrap_session\(\)"}))
    first = found.splitlines()[0]
    assert first.startswith("min.js:1:")
    assert "wrap_session()" in first
    assert first.endswith(
        "[long line: 25,414 characters; columns 24,901-25,140 shown; "
        "the match starts at column 25,001]"
    )


async def test_read_file_pages_through_a_long_line(project: Path) -> None:
    first, second = await tool_results(
        project,
        call("read_file", {"path": "min.js"}),
        call("read_file", {"path": "min.js", "start_line": 1, "start_column": 15_001}),
    )
    assert "Read on with start_line=1 and start_column=" in first.splitlines()[-1]
    assert "line 1 from column 15,001" in second.splitlines()[0]
    assert "wrap_session()" in second


# -- item 6: wording ---------------------------------------------------------------------


async def test_edit_errors_name_a_copied_line_number_and_tabs(project: Path) -> None:
    numbered, spaces = await tool_results(
        project,
        call(
            "edit_file",
            # as read_file shows it: number, tab, then the line's own tabs
            {"path": "app.py", "old_string": "2\t\tif ready:\n3\t\t\treturn", "new_string": "x"},
        ),
        call(
            "edit_file",
            {"path": "app.py", "old_string": "    if ready:\n        return", "new_string": "x"},
        ),
    )
    assert "line number and a tab (e.g. '2\\t')" in numbered
    assert "Without those prefixes it matches 1 time." in numbered
    assert "matches at line 2 when spaces and tabs are ignored" in spaces
    assert "the file has tabs where old_string has spaces" in spaces


async def test_search_lines_copy_exactly(project: Path) -> None:
    (found,) = await tool_results(project, call("search", {"pattern": "return", "glob": "*.py"}))
    assert found.splitlines()[0] == "app.py:3:\t\treturn wrap_session(1)"


async def test_run_tests_with_a_missing_node_id_is_a_usage_error(project: Path) -> None:
    (result,) = await tool_results(
        project, call("run_tests", {"args": ["tests/test_nope.py::test_missing"]})
    )
    assert result.startswith("run_tests: USAGE ERROR (exit code 4: ")


# -- issue 14, item 3: secrets through the whole loop ------------------------------------


async def test_a_withheld_file_never_reaches_the_model_or_the_events(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    token = "sk-live-planted-0000"
    write(root, ".ENV", f"TOKEN={token}\n")
    write(root, "vendor/.git/config", f"url = https://u:{token}@example.com/r\n")
    calls = [
        call("read_file", {"path": ".ENV"}),
        call("write_file", {"path": ".ENV", "content": f"TOKEN={token}\n"}),
        call("edit_file", {"path": ".env", "old_string": "TOKEN", "new_string": "X"}),
        call("search", {"pattern": "sk-live"}),
        call("read_file", {"path": "vendor/.git/config"}),
    ]
    turns = [Turn(tool_calls=tuple(calls)), Turn(content="done")]
    async with agent_for(root, turns, gate=NeverGate()) as (agent, server, seen):
        await agent.run("go")
    results = [m["content"] for m in tool_messages(server.requests[1])]
    assert all(token not in r for r in results)
    assert not any(isinstance(e, ev.EditProposed) for e in seen)
    # Only the model's own call arguments (it chose the content it sent) carry it.
    assert all(token not in repr(e) for e in seen if not isinstance(e, ev.ToolCall))
    assert results[0] == results[1] and results[2].lower() == results[0].lower()
    assert results[3] == "no matches for 'sk-live'"
    assert (root / ".ENV").read_text() == f"TOKEN={token}\n"


# -- issue 14, item 5: special files; item 8: summaries survive the cap ------------------


async def test_a_fifo_in_the_project_blocks_no_tool(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root, "app.py", "needle = 1\n")
    os.mkfifo(root / "pipe.txt")
    results = await tool_results(
        root,
        call("list_files", {}),
        call("read_file", {"path": "pipe.txt"}),
        call("search", {"pattern": "needle"}),
        call("write_file", {"path": "pipe.txt", "content": "x"}),
    )
    assert results[0] == "app.py\n[1 file in the project]"
    assert "is a FIFO (named pipe), not a regular file" in results[1]
    assert results[2] == "app.py:1:needle = 1\n[1 matching line in 1 file]"
    assert "is a FIFO (named pipe), not a regular file" in results[3]


async def test_a_listing_of_thousands_of_files_keeps_its_summary(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    for d in range(40):
        folder = root / f"package_{d:02}" / "subpackage_with_a_long_name"
        folder.mkdir(parents=True)
        for i in range(100):
            (folder / f"module_with_a_long_descriptive_name_{i:03}.py").write_text("")
    (listing,) = await tool_results(root, call("list_files", {}))
    assert len(listing) <= 16_000 and "output cut" not in listing
    assert listing.splitlines()[-1].startswith("[4,000 files in the project: ")
    assert "package_39/subpackage_with_a_long_name/  (100 files)" in listing.splitlines()


# -- issue 14, item 5: SIGINT during a search ---------------------------------------------


def test_sigint_while_a_search_backtracks_interrupts_the_run(tmp_path: Path) -> None:
    """SIGINT mid-search ends the run as interrupted, exit 130, with no "timed out" answer.

    That the event loop (where headless handles signals) keeps running while the
    regex matches is shown in-process by test_the_event_loop_runs_while_a_search_matches
    in test_tools_hostile.py; this test drives the whole path through the CLI.
    """
    write(tmp_path, "rule.txt", "=" * 4_000_000 + "\n")  # one regex call may run ~2 s
    server = ScriptedServer(
        [Turn(tool_calls=(call("search", {"pattern": r"(=|==)+\1!"}),)), Turn(content="x")]
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
                "find it",
                "--base-url",
                base_url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(MOONSHOT_API_KEY="sk-test"),
        )
        assert proc.stdout is not None
        events = []
        for line in proc.stdout:
            events.append(json.loads(line))
            if events[-1]["type"] == "tool_call":
                break
        time.sleep(0.5)  # the search is inside one long regex call by now
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    events += [json.loads(line) for line in rest.splitlines()]
    assert proc.returncode == 130
    result = next(e for e in events if e["type"] == "tool_result")
    assert "timed out" not in result["output"]  # the interrupt came first
    assert events[-1]["type"] == "done" and events[-1]["reason"] == "interrupted"
