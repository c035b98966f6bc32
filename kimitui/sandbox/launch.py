"""The Landlock launcher: confine, run one command, and leave nothing running.

Run as ``python -I -S launch.py SPEC_JSON COMMAND...`` (stdlib only, no
kimitui import: it starts in a few milliseconds). It makes itself a child
subreaper, so every orphan of the tree -- a double-forked daemon that called
``setsid()`` included -- becomes its child, applies the Landlock rules of
SPEC_JSON to itself, runs COMMAND, and when COMMAND exits, or SIGTERM
arrives, kills every process left and exits with COMMAND's status.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1
_PR_CAPBSET_DROP = 24
_PR_SET_CHILD_SUBREAPER = 36
_CAP_LAST = 63
EXEC_FAILED = 127


def _load_landlock():  # a module object, imported by path under -I
    import importlib.util

    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "landlock.py")
    spec = importlib.util.spec_from_file_location("kimitui_landlock", here)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _children() -> list[int]:
    pids: list[int] = []
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return pids
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/children") as fh:
                pids.extend(int(p) for p in fh.read().split())
        except OSError:
            continue
    return pids


def kill_all() -> None:
    """SIGKILL every descendant until none is left (orphans come back to us)."""
    while pids := _children():
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    command = argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)  # kimitui gone: clean up
    # Even run as root, the command gets no capability: without CAP_SYS_PTRACE
    # it cannot read an undumpable kimitui's /proc/PID/environ or memory.
    for cap in range(_CAP_LAST + 1):
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
    landlock = _load_landlock()
    grants = [(path, int(rights)) for path, rights in spec["grants"]]
    landlock.restrict_self(grants, network=bool(spec["network"]))

    def stop(signum: int, frame: object) -> None:
        kill_all()
        os._exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    pid = os.fork()
    if pid == 0:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        try:
            os.execvp(command[0], command)
        except OSError as exc:
            os.write(2, f"kimitui sandbox: cannot run {command[0]!r}: {exc}\n".encode())
        os._exit(EXEC_FAILED)
    while True:
        try:
            waited, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return EXEC_FAILED
        if waited == pid:
            break
    kill_all()
    return os.waitstatus_to_exitcode(status) % 256


if __name__ == "__main__":
    sys.exit(main(sys.argv))
