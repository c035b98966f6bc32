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
import sys
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
    """asyncio streams over the private fds: (writer to the client, reader from it)."""
    loop = asyncio.get_running_loop()
    # The SDK's default line limit is 64 KiB; a pasted file in a prompt is bigger.
    reader = asyncio.StreamReader(limit=50 * 1024 * 1024)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fds.read, "rb", buffering=0)
    )
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(fds.write, "wb", buffering=0)
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    return writer, reader
