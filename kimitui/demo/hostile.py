"""Streams a broken or malicious server sends: floods, giant events, any chunk shape.

Made on the fly, so the scripted server can send a hundred megabytes without
holding them; the client under test decides how much of it it reads.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from kimitui.demo.script import Fault
from kimitui.demo.stream import ChunkFactory


def _line(payload: Any) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n".encode("utf-8", "backslashreplace")


def _flood_delta(fault: Fault, text: str) -> dict[str, Any]:
    if fault.field == "arguments":
        return {"tool_calls": [{"index": 0, "function": {"arguments": text}}]}
    key = "reasoning_content" if fault.field == "reasoning" else "content"
    return {key: text}


async def _flood(fault: Fault, factory: ChunkFactory, resp: web.StreamResponse) -> None:
    if fault.field == "arguments":
        header = {"index": 0, "id": "call_flood", "type": "function"}
        header["function"] = {"name": "read_file", "arguments": '{"path": "'}
        await resp.write(_line(factory.chunk({"tool_calls": [header]})))
    block = "x" * fault.chunk_chars
    sent = 0
    while sent < fault.size:
        piece = block[: fault.size - sent]
        await resp.write(_line(factory.chunk(_flood_delta(fault, piece))))
        sent += len(piece)
    if fault.field == "arguments":
        await resp.write(_line(factory.chunk(_flood_delta(fault, '"}'))))
    finish = "tool_calls" if fault.field == "arguments" else "stop"
    await resp.write(_line(factory.chunk({}, finish)) + _line("[DONE]"))


async def _huge_event(fault: Fault, factory: ChunkFactory, resp: web.StreamResponse) -> None:
    # Written in pieces: one event, one line, never whole in the server's memory.
    head, tail = json.dumps(factory.chunk({"content": "@"})).split("@")
    await resp.write(f"data: {head}".encode())
    block = b"x" * (1 << 20)
    for start in range(0, fault.size, len(block)):
        await resp.write(block[: fault.size - start])
    await resp.write(f"{tail}\n\n".encode())
    await resp.write(_line(factory.chunk({}, "stop")) + _line("[DONE]"))


async def play(fault: Fault, factory: ChunkFactory, resp: web.StreamResponse) -> None:
    """Send the hostile stream ``fault`` describes on the prepared response ``resp``."""
    try:
        if fault.kind == "flood":
            await _flood(fault, factory, resp)
        elif fault.kind == "huge_event":
            await _huge_event(fault, factory, resp)
        else:
            for payload in fault.payloads:
                await resp.write(_line(payload))
            await resp.write(_line("[DONE]"))
        await resp.write_eof()
    except (ConnectionResetError, ConnectionError):
        return  # the client stopped reading: what a bounded client does
