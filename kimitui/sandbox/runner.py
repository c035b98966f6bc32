"""Run one program for the model: confined, bounded in time and output, and
with nothing of it left running afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from kimitui.sandbox import bwrap, landlock
from kimitui.sandbox.env import child_env
from kimitui.sandbox.level import Level, detect
from kimitui.sandbox.macos import seatbelt_profile
from kimitui.sandbox.nsinit import SandboxInit
from kimitui.sandbox.policy import Policy, write_grants

KEEP_BYTES = 512 * 1024  # rolling window: only the tail is ever shown
READ_AFTER_EXIT = 5.0  # seconds to drain output after the process is gone
TERM_GRACE = 2.0  # the launcher's time to kill its tree before SIGKILL
LAUNCHER = Path(__file__).with_name("launch.py")

OutputSink = Callable[[str], None]


@dataclass(frozen=True)
class RunResult:
    command: tuple[str, ...]
    exit_code: int | None  # None when killed on timeout
    timed_out: bool
    output: str
    elapsed: float
    timeout: float
    level: str = "none"
    dropped_env: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


@dataclass(frozen=True)
class Confined:
    argv: list[str]
    env: dict[str, str]
    dropped_env: tuple[str, ...]
    level: str


@dataclass
class Sandbox:
    """The one way kimitui starts a program for the model."""

    mechanism: str = "auto"
    network: bool = False
    pass_env: Sequence[str] = ()
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    @property
    def level(self) -> Level:
        return detect(self.mechanism)

    @contextlib.contextmanager
    def confined(
        self,
        command: Sequence[str],
        policy: Policy,
        *,
        secrets: Iterable[str] = (),
        venv: str | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> Iterator[Confined]:
        """The argv and environment that run ``command`` confined, valid inside the block.

        For a program kimitui starts and talks to (an MCP server): spawn ``argv``
        with ``env``, cwd ``policy.root`` and a new session; ending the process
        (SIGTERM, then SIGKILL) ends its whole tree. ``extra_env`` is the user's
        own configuration, passed as given.
        """
        level = self.level
        if level.name == "landlock":
            landlock.make_undumpable()
        policy = replace(policy, network=self.network)
        tmp = Path(tempfile.mkdtemp(prefix="kimitui-run-"))
        try:
            env, dropped = child_env(
                self.environ,
                home=bwrap.SANDBOX_HOME if level.name == "bwrap" else str(tmp),
                tmp=bwrap.SANDBOX_TMP if level.name == "bwrap" else str(tmp),
                pass_env=self.pass_env,
                secrets=secrets,
                venv=venv,
            )
            env.update(extra_env or {})
            argv = _confined(level, policy, list(command), tmp)
            yield Confined(argv, env, tuple(dropped), level.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    async def run(
        self,
        command: Sequence[str],
        policy: Policy,
        timeout: float,
        *,
        secrets: Iterable[str] = (),
        venv: str | None = None,
        on_output: OutputSink | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> RunResult:
        confined = self.confined(command, policy, secrets=secrets, venv=venv, extra_env=extra_env)
        with confined as box:
            init = SandboxInit() if box.level == "bwrap" else None
            ending = _Ending(graceful=box.level == "landlock", init=init)
            started = time.monotonic()
            try:
                argv = ending.init.argv(box.argv) if ending.init else box.argv
                code, timed_out, output = await _spawn(
                    argv, policy.root, box.env, timeout, on_output, ending
                )
            finally:
                ending.close()
        return RunResult(
            command=tuple(command),
            exit_code=code,
            timed_out=timed_out,
            output=output,
            elapsed=time.monotonic() - started,
            timeout=timeout,
            level=box.level,
            dropped_env=box.dropped_env,
        )


@dataclass(frozen=True)
class _Ending:
    """How a run's process tree is ended."""

    graceful: bool  # SIGTERM first: the Landlock launcher then kills what it adopted
    init: SandboxInit | None  # bwrap: the namespace's init, killed directly

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return (self.init.write_fd,) if self.init is not None else ()

    def started(self, launcher: int) -> None:
        if self.init is not None:
            self.init.watch(launcher)

    def close(self) -> None:
        if self.init is not None:
            self.init.close()


def _confined(level: Level, policy: Policy, command: list[str], tmp: Path) -> list[str]:
    if level.name == "bwrap" and level.binary:
        empty = tmp / "empty"
        empty.touch()
        return bwrap.argv(level.binary, policy, command, keep=bwrap.keep_for(command), empty=empty)
    if level.name == "landlock":
        rights = landlock.write_rights(level.landlock_abi)
        grants = write_grants(policy, tmp, rights, landlock.FILE_RIGHTS & rights)
        spec = json.dumps({"grants": grants, "network": policy.network})
        return [sys.executable, "-I", "-S", str(LAUNCHER), spec, *command]
    if level.name == "seatbelt":
        return ["sandbox-exec", "-p", seatbelt_profile(policy, tmp), *command]
    return command


async def _spawn(
    argv: list[str],
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    on_output: OutputSink | None,
    ending: _Ending,
) -> tuple[int | None, bool, str]:
    stream, transport, write_fd = await _output_pipe()
    try:
        try:
            proc = await _start(argv, cwd, env, write_fd, ending)
        finally:
            os.close(write_fd)
        return await _watch(proc, stream, timeout, on_output, ending)
    finally:
        transport.close()


async def _output_pipe() -> tuple[asyncio.StreamReader, asyncio.ReadTransport, int]:
    """A pipe for the output, read apart from the process.

    Not asyncio's own: on Python 3.11 ``proc.wait()`` also waits for its pipes
    to close, so one survivor holding stdout would hang the run for good.
    """
    read_fd, write_fd = os.pipe()
    stream = asyncio.StreamReader()
    try:
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stream), os.fdopen(read_fd, "rb", buffering=0)
        )
    except BaseException:
        os.close(write_fd)
        raise
    return stream, transport, write_fd


async def _watch(
    proc: asyncio.subprocess.Process,
    stream: asyncio.StreamReader,
    timeout: float,
    on_output: OutputSink | None,
    ending: _Ending,
) -> tuple[int | None, bool, str]:
    buffer = bytearray()
    reader = asyncio.create_task(_drain(stream, buffer, on_output), name="sandbox-output")
    timed_out = False
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        timed_out = True
    except asyncio.CancelledError:
        reader.cancel()
        raise
    finally:
        # Also after a normal exit: stray children must not outlive the run
        # (and would hold the output pipe open).
        await _end_tree(proc, ending)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(reader), READ_AFTER_EXIT)
    reader.cancel()
    code = None if timed_out else proc.returncode
    return code, timed_out, buffer.decode("utf-8", "replace")


async def _start(
    argv: list[str], cwd: Path, env: Mapping[str, str], out_fd: int, ending: _Ending
) -> asyncio.subprocess.Process:
    """Start ``argv``; cancelled meanwhile, the started tree is ended, not left running."""
    starting = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out_fd,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            pass_fds=ending.pass_fds,
        )
    )
    try:
        proc = await asyncio.shield(starting)
    except asyncio.CancelledError:
        # asyncio's own clean-up would kill the leader alone and then wait on it.
        with contextlib.suppress(Exception):
            proc = await starting
            ending.started(proc.pid)
            await _end_tree(proc, ending)
        raise
    ending.started(proc.pid)
    return proc


async def _drain(
    stream: asyncio.StreamReader, buffer: bytearray, on_output: OutputSink | None
) -> None:
    while chunk := await stream.read(65536):
        buffer += chunk
        if on_output is not None:
            on_output(chunk.decode("utf-8", "replace"))
        if len(buffer) > KEEP_BYTES:
            del buffer[: len(buffer) - KEEP_BYTES]


async def _end_tree(proc: asyncio.subprocess.Process, ending: _Ending) -> None:
    """Landlock's launcher is given SIGTERM to kill what it adopted, bwrap's
    namespace init is killed, then the whole process group."""
    if ending.graceful and proc.returncode is None:
        _signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await _reap(proc, TERM_GRACE)
    if ending.init is not None:
        ending.init.kill()
    _signal_group(proc.pid, signal.SIGKILL)
    if proc.returncode is None:
        await _reap(proc, None)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _reap(proc: asyncio.subprocess.Process, timeout: float | None) -> None:
    """Wait for the leader, even while our own task is being cancelled."""
    waiter = asyncio.ensure_future(proc.wait())
    try:
        await asyncio.wait_for(asyncio.shield(waiter), timeout)
    except asyncio.CancelledError:
        await waiter  # SIGKILL was sent, so this returns promptly
        raise
