"""The execution sandbox, tried as a hostile model and a hostile repository would.

Everything runs for real: bubblewrap and Landlock on this kernel, pytest in a
temp project, the Agent over HTTP against the scripted server.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

import pytest
from proctools import running, wait_gone

from kimitui.config import Settings
from kimitui.core import events as ev
from kimitui.core.gate import AutoGate, NeverGate
from kimitui.demo.script import ToolCallSpec, Turn
from kimitui.demo.server import ScriptedServer
from kimitui.sandbox import Policy, Protected, Sandbox, detect
from kimitui.sandbox.env import child_env, secret_values
from kimitui.sandbox.launch import EXEC_FAILED
from kimitui.sandbox.macos import seatbelt_profile
from kimitui.tools import Toolbox, Workspace
from kimitui.wiring import Endpoint, build_agent

MECHANISMS = ("bwrap", "landlock")
API_KEY = "sk-kimitui-test-key-0123456789"
DOTENV = "STRIPE_KEY=sk_live_dotenv_value_42\n"


def tree_hash(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` with a hash of its bytes."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / ".git" / "refs").mkdir(parents=True)
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / ".git" / "config").write_text('[remote "o"]\n\turl = https://ghp_tok3n123456@x/y\n')
    (root / ".env").write_text(DOTENV)
    (root / "app.py").write_text("def add(a, b):\n    return a + b\n")
    (root / "test_app.py").write_text(
        "from app import add\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    )
    return root


class Listener:
    """A TCP server on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def evil_test(outside: Path, port: int, token: str) -> str:
    """A model-written test: every escape it tries is reported on stdout."""
    return f"""
import os, shutil, socket, subprocess, sys, time

def attempt(name, fn):
    try:
        fn()
        print("ESCAPED", name, flush=True)
    except Exception as exc:
        print("blocked", name, type(exc).__name__, flush=True)

def write_outside():
    open({str(outside / "written.txt")!r}, "w").write("x")

def read_parent_environ():
    data = open("/proc/{os.getpid()}/environ", "rb").read()
    if not data:
        raise PermissionError("empty")
    print("ENVIRON", data.decode(errors="replace"))

def connect():
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()

def delete_git():
    shutil.rmtree(".git")

DAEMON = '''
import os, sys, time
if os.fork(): sys.exit(0)
os.setsid()
if os.fork(): sys.exit(0)
time.sleep(3)
for target in ("daemon.txt", {str(outside / "daemon.txt")!r}):
    try:
        open(target, "w").write("alive")
    except OSError:
        pass
'''

def test_escape():
    attempt("write_outside", write_outside)
    attempt("environ", read_parent_environ)
    attempt("connect", connect)
    attempt("delete_git", delete_git)
    subprocess.run([sys.executable, "-c", DAEMON, {token!r}])
    print("daemon started", flush=True)
"""


async def run_agent(project: Path, turns: list, gate, **settings) -> tuple[list, ScriptedServer]:
    seen: list[ev.Event] = []
    async with ScriptedServer(turns) as server:
        agent = build_agent(Settings(**settings), project, Endpoint(server.base_url, API_KEY), gate)
        agent.subscribe(seen.append)
        await agent.run("go")
        await agent.client.close()
    return seen, server


def results(seen: list[ev.Event]) -> list[str]:
    return [e.output for e in seen if isinstance(e, ev.ToolOutput)]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_mechanism_works_on_this_machine(mechanism: str) -> None:
    """The machines kimitui is tested on give both; a silent downgrade would hide bugs."""
    assert detect(mechanism).name == mechanism, detect(mechanism).detail


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_model_written_test_cannot_escape(
    mechanism: str, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOONSHOT_API_KEY", API_KEY)
    outside = tmp_path / "outside"
    outside.mkdir()
    listener = Listener()
    token = f"kimitui-daemon-{os.getpid()}-{time.monotonic_ns()}"
    git_before = tree_hash(project / ".git")
    turns = [
        Turn(
            tool_calls=(
                ToolCallSpec(
                    "write_file",
                    {"path": "test_evil.py", "content": evil_test(outside, listener.port, token)},
                ),
            )
        ),
        Turn(tool_calls=(ToolCallSpec("run_tests", {"args": ["test_evil.py", "-s"]}),)),
        Turn(content="done"),
    ]
    try:
        seen, server = await run_agent(project, turns, AutoGate(), sandbox_mechanism=mechanism)
    finally:
        listener.close()
    output = results(seen)[-1]
    assert "daemon started" in output, output
    assert "ESCAPED" not in output, output
    for name in ("write_outside", "environ", "connect", "delete_git"):
        assert f"blocked {name}" in output
    assert listener.accepted == 0
    assert tree_hash(project / ".git") == git_before
    assert not (outside / "written.txt").exists()
    assert wait_gone(token), "the daemon outlived run_tests"
    returned = time.time()
    await asyncio.sleep(3.5)  # past the daemon's planned write
    assert not running(token)
    assert not (outside / "daemon.txt").exists()
    # On a slow machine the daemon may write inside the project while the run
    # lasts (allowed); never after run_tests returned.
    marker = project / "daemon.txt"
    assert not marker.exists() or marker.stat().st_mtime <= returned
    sent = json.dumps(server.requests)
    assert API_KEY not in sent and "sk_live_dotenv_value_42" not in sent


HOSTILE_ARGS = [
    ["--junitxml={out}/j.xml"],
    ["--junitxml", "{out}/j.xml"],
    ["--junit-xml={out}/j.xml"],
    ["--junit={out}/j.xml"],
    ["--debug={out}/debug.log"],
    ["--log-file={out}/log.txt", "--log-file-format=%(message)s"],
    ["-o", "cache_dir={out}"],
    ["-ocache_dir={out}"],
    ["--override-ini=cache_dir={out}"],
    ["--basetemp=.git"],
    ["--basetemp", "{out}"],
    ["-c", "{out}/outside.ini"],
    ["-p", "os"],
    ["-pos"],
    ["--rootdir={out}"],
    ["--confcutdir=/"],
    ["@{out}/args.txt"],
    ["{out}"],
    ["../outside"],
    ["-x", "--junitxml=conftest.py"],
    ["-xo", "cache_dir=x"],
    ["-k", "--junitxml=x"],
    ["--tb=long;rm"],
]


def spelled(args: list[str], out: Path) -> list[str]:
    return [a.replace("{out}", str(out)) for a in args]


@pytest.mark.parametrize("gate", [AutoGate(), NeverGate()], ids=["auto", "never"])
async def test_hostile_pytest_arguments_are_refused(gate, project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "outside.ini").write_text("[pytest]\naddopts = --secret-line-from-outside\n")
    (outside / "args.txt").write_text("--junitxml=/tmp/x.xml\n")
    outside_before = tree_hash(outside)
    project_before = tree_hash(project)
    calls = tuple(
        ToolCallSpec("run_tests", {"args": spelled(args, outside)}, id=f"c{i}")
        for i, args in enumerate(HOSTILE_ARGS)
    )
    seen, server = await run_agent(
        project, [Turn(tool_calls=calls), Turn(content="ok")], gate, max_steps=3
    )
    outputs = results(seen)
    assert len(outputs) == len(HOSTILE_ARGS)
    for args, output in zip(HOSTILE_ARGS, outputs, strict=True):
        assert output.startswith("error: run_tests:"), (args, output)
        assert "-k EXPR" in output or "argument files" in output or "outside" in output
    assert tree_hash(outside) == outside_before
    assert tree_hash(project) == project_before
    assert "secret-line-from-outside" not in json.dumps(server.requests)


async def test_allowed_selectors_still_run(project: Path) -> None:
    box = Toolbox(Workspace(project))
    for args in (["test_app.py::test_add", "-x", "-v"], ["-k", "add", "--tb=short", "-rA"]):
        result = await box.call("c", "run_tests", {"args": args})
        assert result.ok, result.output
        assert "1 passed" in result.output


async def test_configured_non_pytest_command_takes_no_args(project: Path) -> None:
    (project / "Makefile").write_text("test:\n\t@echo ran\n")
    box = Toolbox(Workspace(project), test_command=["make", "test"])
    result = await box.call("c", "run_tests", {"args": ["--eval=$(shell touch pwned)"]})
    assert result.output.startswith("error: run_tests: the configured test command takes no")
    assert "[tools] test_args = true" in result.output
    assert not (project / "pwned").exists()
    assert (await box.call("c", "run_tests", {})).ok


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_never_leaves_the_project_byte_identical(mechanism: str, project: Path) -> None:
    (project / "conftest.py").write_text(
        "import pathlib\n"
        "for name in ('app.py', 'new.txt', '.git/HEAD'):\n"
        "    try:\n"
        "        pathlib.Path(name).write_text('changed')\n"
        "        print('WROTE', name)\n"
        "    except OSError as exc:\n"
        "        print('blocked', name, exc.strerror)\n"
    )
    before = tree_hash(project)
    seen, _ = await run_agent(
        project,
        [Turn(tool_calls=(ToolCallSpec("run_tests", {"args": ["-s"]}),)), Turn(content="ok")],
        NeverGate(),
        sandbox_mechanism=mechanism,
    )
    assert "WROTE" not in results(seen)[0]
    assert "1 passed" in results(seen)[0]
    assert tree_hash(project) == before


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_hostile_conftest_cannot_hand_secrets_to_the_model(
    mechanism: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cloned repo's conftest prints .env, the environment and the git token."""
    monkeypatch.setenv("MOONSHOT_API_KEY", API_KEY)
    monkeypatch.setenv("DATABASE_URL", "postgres://app:hunter2pass@db/app")
    (project / "conftest.py").write_text(
        "import os, pathlib\n"
        "print('DOTENV', pathlib.Path('.env').read_text(errors='replace'))\n"
        "print('GITCONFIG', pathlib.Path('.git/config').read_text(errors='replace'))\n"
        "print('ENV', dict(os.environ))\n"
    )
    seen, server = await run_agent(
        project,
        [Turn(tool_calls=(ToolCallSpec("run_tests", {"args": ["-s"]}),)), Turn(content="ok")],
        AutoGate(),
        sandbox_mechanism=mechanism,
    )
    output = results(seen)[0]
    assert "DOTENV" in output and "1 passed" in output
    sent = json.dumps(server.requests)
    for secret in (API_KEY, "sk_live_dotenv_value_42", "hunter2pass", "ghp_tok3n123456"):
        assert secret not in output
        assert secret not in sent
    assert (project / ".env").read_text() == DOTENV


async def test_forced_off_never_refuses_and_auto_runs(project: Path) -> None:
    before = tree_hash(project)
    seen, _ = await run_agent(
        project,
        [Turn(tool_calls=(ToolCallSpec("run_tests", {}),)), Turn(content="ok")],
        NeverGate(),
        sandbox_mechanism="none",
    )
    session = next(e for e in seen if isinstance(e, ev.SessionStarted))
    assert session.sandbox == "none"
    assert results(seen)[0].startswith("error: run_tests did not run: this machine gives")
    assert tree_hash(project) == before
    seen, _ = await run_agent(
        project,
        [Turn(tool_calls=(ToolCallSpec("run_tests", {}),)), Turn(content="ok")],
        AutoGate(),
        sandbox_mechanism="none",
    )
    assert results(seen)[0].startswith("run_tests: PASSED")


async def test_session_event_carries_the_level(project: Path) -> None:
    seen, _ = await run_agent(project, [Turn(content="hi")], AutoGate())
    session = next(e for e in seen if isinstance(e, ev.SessionStarted))
    assert session.sandbox == detect("auto").name == "bwrap"
    assert session.to_dict()["sandbox"] == "bwrap"


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_private_temp_dir_is_removed(mechanism: str, project: Path) -> None:
    script = "import os, tempfile; d = tempfile.mkdtemp(); print('TMP', d, os.environ['HOME'])"
    sandbox = Sandbox(mechanism=mechanism)
    before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("kimitui-run-*"))
    run = await sandbox.run([sys.executable, "-c", script], Policy(root=project), 10)
    assert run.ok and "TMP" in run.output
    assert set(Path(os.environ.get("TMPDIR", "/tmp")).glob("kimitui-run-*")) == before


async def test_landlock_launcher_reports_a_missing_program(project: Path) -> None:
    run = await Sandbox(mechanism="landlock").run(
        ["/nonexistent/program"], Policy(root=project), 10
    )
    assert run.exit_code == EXEC_FAILED
    assert "cannot run '/nonexistent/program'" in run.output


def test_env_allowlist_and_value_checks(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("# a comment\nexport TOKEN='abcdefgh1234'\nSHORT=1\n[section]\n")
    secrets = secret_values([dotenv], ["sk-the-api-key"])
    assert secrets == {"abcdefgh1234", "sk-the-api-key"}
    environ = {
        "PATH": "/usr/bin",
        "LC_ALL": "C.UTF-8",
        "AWS_SECRET_ACCESS_KEY": "x",
        "MINE": "has abcdefgh1234 inside",
        "PROXY": "https://u:pw@proxy:1",
        "OK": "fine",
    }
    env, dropped = child_env(
        environ, home="/h", tmp="/t", pass_env=["MINE", "PROXY", "OK"], secrets=secrets
    )
    assert dropped == ["MINE", "PROXY"]
    assert env["OK"] == "fine" and env["LC_ALL"] == "C.UTF-8" and env["HOME"] == "/h"
    assert "AWS_SECRET_ACCESS_KEY" not in env


def test_seatbelt_profile_text(tmp_path: Path) -> None:
    root = tmp_path / 'p"q'
    policy = Policy(
        root=root,
        protected=Protected(
            git_dirs=(root / ".git",), secrets=(root / ".env",), read_only=(root / "lock",)
        ),
    )
    text = seatbelt_profile(policy, tmp_path / "t")
    lines = text.splitlines()
    assert lines[:3] == ["(version 1)", "(allow default)", "(deny file-write*)"]
    assert f'(allow file-write* (subpath "{tmp_path}/p\\"q")' in text
    assert f'(deny file-write* (subpath "{tmp_path}/p\\"q/.git"))' in text
    assert f'(deny file-read* file-write* (subpath "{tmp_path}/p\\"q/.env"))' in text
    assert "(deny network*)" in lines
    # protected rules come after the grant (later rules win)
    assert lines.index("(deny network*)") > 3
    read_only = seatbelt_profile(Policy(root=root, writable=False, network=True), tmp_path)
    assert f'(subpath "{tmp_path}/p\\"q")' not in read_only.split("(allow file-write*")[1]
    assert "(deny network*)" not in read_only


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_deny_write_and_withheld_files_stay_unwritten(mechanism: str, project: Path) -> None:
    (project / "migrations").mkdir()
    (project / "migrations" / "0001.sql").write_text("create table t;\n")
    (project / "src").mkdir()
    (project / "conftest.py").write_text(
        "import os, pathlib\n"
        "for name in ('migrations/0001.sql', '.env', '.git/config', 'src/free.txt'):\n"
        "    try:\n"
        "        pathlib.Path(name).write_text('changed')\n"
        "        print('WROTE', name)\n"
        "    except OSError as exc:\n"
        "        print('blocked', name)\n"
        "for name in ('migrations/0001.sql', '.env'):\n"
        "    try:\n"
        "        os.remove(name)\n"
        "        print('REMOVED', name)\n"
        "    except OSError:\n"
        "        print('kept', name)\n"
    )
    seen, _ = await run_agent(
        project,
        [Turn(tool_calls=(ToolCallSpec("run_tests", {"args": ["-s"]}),)), Turn(content="ok")],
        AutoGate(),
        sandbox_mechanism=mechanism,
        deny_write=["migrations/*"],
    )
    output = results(seen)[0]
    assert "WROTE src/free.txt" in output, output
    for name in ("migrations/0001.sql", ".env", ".git/config"):
        assert f"blocked {name}" in output
    assert "REMOVED" not in output
    assert (project / "migrations" / "0001.sql").read_text() == "create table t;\n"
    assert (project / ".env").read_text() == DOTENV


async def test_landlock_grants_never_follow_a_symlink_out(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / "out").symlink_to(outside)
    (project / "note.txt").symlink_to(outside / "note.txt")
    (outside / "note.txt").write_text("theirs\n")
    script = (
        "import pathlib\n"
        "for name in ('out/new.txt', 'note.txt'):\n"
        "    try:\n"
        "        pathlib.Path(name).write_text('x')\n"
        "        print('WROTE', name)\n"
        "    except OSError:\n"
        "        print('blocked', name)\n"
    )
    protected = Protected(git_dirs=(project / ".git",))
    run = await Sandbox(mechanism="landlock").run(
        [sys.executable, "-c", script], Policy(root=project, protected=protected), 10
    )
    assert "WROTE" not in run.output, run.output
    assert not (outside / "new.txt").exists()
    assert (outside / "note.txt").read_text() == "theirs\n"
