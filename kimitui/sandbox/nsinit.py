"""The init of a bwrap run's pid namespace, held so that it can be killed.

bwrap starts that init in a session of its own, so killing the launcher's
process group misses it. It should die with the launcher (``--die-with-parent``),
yet on a loaded machine it was seen to outlive a killed launcher, its command
still running and holding the output pipe. Killed itself, it takes every
process of the namespace with it: that is the kernel's rule for a namespace's
init, and nothing inside can opt out of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal

_CHILD_PID = re.compile(rb'"child-pid":\s*(\d+)')


class SandboxInit:
    """bwrap's ``--info-fd`` report, turned into a pidfd on the namespace's init."""

    def __init__(self) -> None:
        read, self.write_fd = os.pipe()
        os.set_blocking(read, False)
        self._read: int | None = read
        self._report = b""
        self._launcher: int | None = None
        self._pidfd: int | None = None
        self._watched: asyncio.AbstractEventLoop | None = None

    def argv(self, bwrap_argv: list[str]) -> list[str]:
        """The bwrap command line, also reporting its init's pid to us."""
        at = bwrap_argv.index("--")
        return [*bwrap_argv[:at], "--info-fd", str(self.write_fd), *bwrap_argv[at:]]

    def watch(self, launcher: int) -> None:
        """Hold the init as soon as bwrap reports it: its parent is alive then."""
        self._launcher = launcher
        self._close_write()
        self._watched = asyncio.get_running_loop()
        self._watched.add_reader(self._read, self._take)

    def kill(self) -> None:
        """SIGKILL the init, and with it the whole namespace."""
        if self._pidfd is None:
            self._take()  # ended before the report was read
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)

    def close(self) -> None:
        self._stop_watching()
        self._close_write()
        for fd in (self._read, self._pidfd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._read = self._pidfd = None

    def _take(self) -> None:
        if self._pidfd is not None or self._read is None:
            return
        try:
            chunk = os.read(self._read, 4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        self._report += chunk
        found = _CHILD_PID.search(self._report)
        if found or not chunk:
            self._stop_watching()
        if found and self._launcher is not None:
            self._pidfd = _open_child(int(found.group(1)), self._launcher)

    def _stop_watching(self) -> None:
        if self._watched is not None and self._read is not None:
            self._watched.remove_reader(self._read)
        self._watched = None

    def _close_write(self) -> None:
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1


def _open_child(pid: int, parent: int) -> int | None:
    """A pidfd on ``pid`` if it is still ``parent``'s child (not a reused pid)."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return None
    if _parent_of(pid) == parent:
        return pidfd
    os.close(pidfd)
    return None


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    # The name, in parentheses, may hold spaces and parentheses itself.
    fields = stat[stat.rindex(b")") + 2 :].split()
    return int(fields[1])
