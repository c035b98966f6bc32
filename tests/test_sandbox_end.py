"""A run ends, whatever its processes do: nothing is left running, and kimitui
never waits on a process that escaped.

A real bwrap and real processes; the grandchildren are found by a token in
their command line, from the host's /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from proctools import running, wait_gone, wait_running

from kimitui.sandbox import Policy, Sandbox, bwrap, detect
from kimitui.sandbox.nsinit import SandboxInit


@pytest.fixture
def token() -> Iterator[str]:
    token = f"kimitui-end-{os.getpid()}-{time.monotonic_ns()}"
    yield token
    subprocess.run(["pkill", "-KILL", "-f", token], check=False)


def sleeper(token: str, *, escape: bool = False) -> str:
    """A program whose child sleeps with ``token`` in its argv (in a new session if ``escape``).

    The token is put together by the program: only its child, never the
    program or a launcher holding the program's text, carries it whole.
    """
    child = f"[sys.executable, '-c', 'import time; time.sleep(60)', {token[:4]!r} + {token[4:]!r}]"
    return (
        "import subprocess, sys\n"
        f"subprocess.Popen({child}, start_new_session={escape})\n"
        "print('started', flush=True)\n"
    )


async def test_an_escaped_process_holding_the_output_does_not_hang_the_run(
    tmp_path: Path, token: str
) -> None:
    # Unconfined, nothing can stop a child that left the process group; the
    # run must still end when its command does, with the output it printed.
    sandbox = Sandbox(mechanism="none")
    command = [sys.executable, "-c", sleeper(token, escape=True)]
    run = await asyncio.wait_for(sandbox.run(command, Policy(root=tmp_path), 30), 25)
    assert run.exit_code == 0
    assert "started" in run.output
    assert running(token)  # the escapee was alive all along: it was not waited for


async def test_a_run_cancelled_while_its_program_runs_leaves_nothing(
    tmp_path: Path, token: str
) -> None:
    sandbox = Sandbox(mechanism="bwrap")
    command = [sys.executable, "-c", sleeper(token, escape=True) + "import time; time.sleep(60)"]
    task = asyncio.create_task(sandbox.run(command, Policy(root=tmp_path), 60))
    assert await asyncio.to_thread(wait_running, token, 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 25)
    assert wait_gone(token)


async def test_a_run_cancelled_as_it_starts_leaves_nothing(tmp_path: Path, token: str) -> None:
    # Cancelled at every early point: before, during and after the start.
    sandbox = Sandbox(mechanism="bwrap")
    command = [sys.executable, "-c", sleeper(token) + "import time; time.sleep(60)"]
    for ticks in range(8):
        task = asyncio.create_task(sandbox.run(command, Policy(root=tmp_path), 60))
        for _ in range(ticks):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 25)
    await asyncio.sleep(1)  # a program that was started would be running by now
    assert wait_gone(token)


async def test_killing_the_sandbox_init_ends_it_even_with_its_launcher_frozen(
    tmp_path: Path, token: str
) -> None:
    # The namespace's init sits in a session of its own: the launcher's group
    # does not hold it, and --die-with-parent alone has been seen to miss.
    level = detect("bwrap")
    empty = tmp_path / "empty"
    empty.touch()
    command = [sys.executable, "-c", sleeper(token) + "import time; time.sleep(60)"]
    init = SandboxInit()
    keep = bwrap.keep_for(command)  # a venv under /tmp (CI's) stays visible
    box = bwrap.argv(str(level.binary), Policy(root=tmp_path), command, keep=keep, empty=empty)
    argv = init.argv(box)
    launcher = await asyncio.create_subprocess_exec(
        *argv, pass_fds=(init.write_fd,), start_new_session=True, stdout=subprocess.DEVNULL
    )
    try:
        init.watch(launcher.pid)
        assert await asyncio.to_thread(wait_running, token, 30)
        os.kill(launcher.pid, signal.SIGSTOP)
        init.kill()
        assert wait_gone(token), "the namespace outlived its init"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(launcher.pid, signal.SIGKILL)
        await launcher.wait()
        init.close()


async def test_a_reported_pid_that_is_not_the_launchers_child_is_never_killed() -> None:
    # A pid the report names is killed only while it is the launcher's child:
    # never a stranger (here: a process of ours) that happens to hold that number.
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    init = SandboxInit()
    try:
        os.write(init.write_fd, f'{{\n    "child-pid": {stranger.pid}\n}}\n'.encode())
        init.watch(other.pid)
        await asyncio.sleep(0.1)
        init.kill()
        await asyncio.sleep(0.2)
        assert stranger.poll() is None
    finally:
        init.close()
        for proc in (stranger, other):
            proc.kill()
            proc.wait()
