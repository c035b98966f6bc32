"""stdout is the protocol's alone.

The engine, the libraries it loads and every program it starts inherit file
descriptors 0 and 1. One stray ``print`` or a child writing to its stdout
would corrupt the JSON-RPC stream, and a child reading stdin would eat the
client's requests. So the protocol gets private copies of both descriptors,
and fd 1 becomes a copy of stderr, fd 0 /dev/null, before anything else runs.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class ProtocolFds:
    read: int  # the client's requests
    write: int  # our answers and notifications


def take_stdio() -> ProtocolFds:
    """Move the protocol off fds 0/1; from now on fd 1 is stderr and fd 0 is empty."""
    sys.stdout.flush()
    proto_in = os.dup(0)
    proto_out = os.dup(1)
    os.set_inheritable(proto_in, False)  # dup() already is; said for the reader
    os.set_inheritable(proto_out, False)
    os.dup2(2, 1)  # a print, or a child's stdout, lands on stderr
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdout = sys.stderr  # Python-level writes too, without reopening fd 1
    return ProtocolFds(proto_in, proto_out)


async def protocol_streams(fds: ProtocolFds) -> tuple[asyncio.StreamWriter, asyncio.StreamReader]:
    """asyncio streams over the private fds: (writer to the client, reader from it).

    An editor gives pipes; a regular file (``kimitui acp < requests.jsonl``)
    works too, read on a thread and written in place.
    """
    loop = asyncio.get_running_loop()
    # The SDK's default line limit is 64 KiB; a pasted file in a prompt is bigger.
    reader = asyncio.StreamReader(limit=50 * 1024 * 1024)
    if _streamable(fds.read):
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fds.read, "rb", buffering=0)
        )
    else:
        threading.Thread(target=_feed, args=(loop, fds.read, reader), daemon=True).start()
    protocol = asyncio.streams.FlowControlMixin()
    if _streamable(fds.write):
        transport, _ = await loop.connect_write_pipe(
            lambda: protocol, os.fdopen(fds.write, "wb", buffering=0)
        )
    else:
        transport = _FileTransport(fds.write)
    writer = asyncio.StreamWriter(transport, protocol, None, loop)  # type: ignore[arg-type]
    return writer, reader


def _streamable(fd: int) -> bool:
    """A pipe, socket or terminal: what asyncio's pipe transports take."""
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


def _feed(loop: asyncio.AbstractEventLoop, fd: int, reader: asyncio.StreamReader) -> None:
    try:
        while data := os.read(fd, 1 << 16):
            loop.call_soon_threadsafe(reader.feed_data, data)
    except OSError:
        pass  # read as closed
    finally:
        loop.call_soon_threadsafe(reader.feed_eof)


class _FileTransport(asyncio.WriteTransport):
    """Writes to a regular file at once: it never blocks for long, nor fills up a pipe."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd: int | None = fd

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view and self._fd is not None:
            view = view[os.write(self._fd, view) :]

    def is_closing(self) -> bool:
        return self._fd is None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def can_write_eof(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0
