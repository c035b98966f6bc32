"""ScriptedServer: an OpenAI-compatible chat-completions server that plays a script.

Real HTTP on 127.0.0.1 (aiohttp), speaking Kimi's dialect: reasoning in
`delta.reasoning_content`, usage inside the final choice, Moonshot's error
bodies and request checks. Each request is answered by the next turn of the
script, after that turn's faults have been played on earlier attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, Literal

from aiohttp import web

from kimitui.demo import hostile, stream
from kimitui.demo.script import Fault, Turn, TurnSource
from kimitui.demo.stream import CallPlan, ChunkFactory, Piece
from kimitui.demo.validate import first_problem

log = logging.getLogger(__name__)
UsageStyle = Literal["kimi", "openai"]

# Without pacing, pieces go out in events of this many tokens: large enough
# to be quick, small enough that a stream still has several chunks to fault in.
UNPACED_BATCH = 8
# The shortest sleep between paced events; at high rates several tokens share
# one event instead of the loop drowning in tiny sleeps.
MIN_TICK = 0.02
SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
EMPTY_REASONING = "Let me think about what to do here."
# Faults that replace the whole stream with what a broken or malicious server sends.
HOSTILE = ("flood", "huge_event", "raw")


def _error(
    status: int, message: str, error_type: str, retry_after: float | None = None
) -> web.Response:
    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
    body = {"error": {"message": message, "type": error_type}}
    return web.json_response(body, status=status, headers=headers)


def _sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    # backslashreplace: a lone surrogate (a non-UTF-8 file name echoed back) as its JSON escape.
    return f"data: {data}\n\n".encode("utf-8", "backslashreplace")


class ScriptedServer:
    """Plays `turns` to whoever posts to /v1/chat/completions.

    `requests`, `request_times` and `request_headers` (lower-cased names)
    record every chat request, faulted and rejected ones included. `errors`
    collects validation failures, expect failures and script exhaustion.
    """

    def __init__(
        self,
        turns: Iterable[TurnSource],
        *,
        tokens_per_second: float | None = None,
        unpaced_batch: int = UNPACED_BATCH,
        usage_style: UsageStyle = "kimi",
        api_key: str | None = None,
        strict: bool = True,
        model: str = "kimi-k2.7-code",
        context_length: Any = 262_144,
        models_body: str | None = None,
    ) -> None:
        self._turns: Iterator[TurnSource] = iter(turns)
        self._current: TurnSource | None = None
        self._faults_played = 0
        self.tokens_per_second = tokens_per_second
        self.unpaced_batch = unpaced_batch  # pieces per chunk when not paced
        self.usage_style: UsageStyle = usage_style
        self.api_key = api_key
        self.strict = strict
        self.model = model
        # Any value, to play a broken endpoint; `models_body` replaces the whole answer.
        self.context_length = context_length
        self.models_body = models_body
        self.base_url = ""
        self.requests: list[dict[str, Any]] = []
        self.request_times: list[float] = []
        self.request_headers: list[dict[str, str]] = []
        self.errors: list[str] = []
        self.served = 0
        self._calls_served = 0
        self._previous_units: list[str] = []
        self._runner: web.AppRunner | None = None
        self._active: set[asyncio.Task[Any]] = set()

    # -- lifecycle -------------------------------------------------------------

    async def start(self, sock: socket.socket | None = None) -> str:
        """Serve on a free loopback port, or on ``sock`` (already bound and listening)."""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        # Stalled handlers are cancelled in stop(), so shutdown need not wait.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        if sock is None:
            site: web.BaseSite = web.TCPSite(self._runner, "127.0.0.1", 0)
        else:
            site = web.SockSite(self._runner, sock)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self.base_url

    async def stop(self) -> None:
        for task in list(self._active):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ScriptedServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @contextlib.contextmanager
    def run_in_thread(self) -> Iterator[str]:
        """Serve from a private event loop in a daemon thread; yields base_url."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="scripted-server", daemon=True)
        thread.start()
        try:
            yield asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout=10)
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()

    # -- handlers ----------------------------------------------------------------

    def _auth_error(self, request: web.Request) -> web.Response | None:
        if self.api_key is None or request.headers.get("Authorization") == f"Bearer {self.api_key}":
            return None
        return _error(401, "Invalid Authentication", "invalid_authentication_error")

    async def _models(self, request: web.Request) -> web.Response:
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        if self.models_body is not None:
            return web.Response(text=self.models_body, content_type="application/json")
        entry = {
            "id": self.model,
            "object": "model",
            "created": 1_780_000_000,
            "owned_by": "moonshot",
            "context_length": self.context_length,
        }
        return web.json_response({"object": "list", "data": [entry]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None  # aiohttp runs every handler in a task
        self._active.add(task)
        try:
            return await self._answer(request)
        finally:
            self._active.discard(task)

    async def _record(self, request: web.Request) -> dict[str, Any] | None:
        self.request_times.append(time.monotonic())
        self.request_headers.append({k.lower(): v for k, v in request.headers.items()})
        try:
            body = await request.json()
        except ValueError:
            body = None
        self.requests.append(body if isinstance(body, dict) else {})
        return body if isinstance(body, dict) else None

    def _reject(self, message: str) -> web.Response:
        self.errors.append(message)
        return _error(400, message, "invalid_request_error")

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        if body is None:
            return self._reject("request body is not a JSON object")
        problem = first_problem(body) if self.strict else None
        if problem:
            return self._reject(problem)
        source = self._next_source()
        if source is None:
            return self._reject("script exhausted")
        try:
            turn = source(body) if callable(source) else source
        except Exception as exc:
            # A broken script is the test's bug, not the client's: make it loud.
            log.exception("scripted turn raised")
            self.errors.append(f"script error: {exc!r}")
            return _error(500, f"script error: {exc!r}", "server_error")
        failed = turn.expect(body) if turn.expect else None
        if failed:
            return self._reject(failed)
        fault = self._take_fault(turn)
        units = stream.prompt_units(body)
        cached = stream.cached_chars(units, self._previous_units)
        self._previous_units = units
        reply = _Reply(self, request, body, turn, fault, (sum(map(len, units)), cached))
        return await reply.send()

    def _next_source(self) -> TurnSource | None:
        if self._current is None:
            self._current = next(self._turns, None)
            self._faults_played = 0
        return self._current

    def _take_fault(self, turn: Turn) -> Fault | None:
        """The fault for this attempt, or None when the turn itself is served."""
        if self._faults_played < len(turn.faults):
            self._faults_played += 1
            return turn.faults[self._faults_played - 1]
        # Advance now, not after streaming: a client that hangs up mid-turn
        # gets the next turn on its next request.
        self._current = None
        return None

    def call_namer(self, turn: Turn, served: bool) -> Callable[[str], str]:
        """Kimi-style ids numbered across the conversation.

        A faulted attempt reuses the numbers its turn will get, as a retried
        generation would; only a served turn moves the count on.
        """
        numbers = itertools.count(self._calls_served)
        if served:
            self._calls_served += len(turn.tool_calls)
        return lambda name: f"functions.{name}:{next(numbers)}"

    async def paced(self, pieces: Sequence[Piece]) -> AsyncIterator[Sequence[Piece]]:
        """Yield batches of pieces at the configured rate of tokens per second."""
        tps = self.tokens_per_second
        if not tps:
            step = self.unpaced_batch
            for i in range(0, len(pieces), step):
                yield pieces[i : i + step]
            return
        start, sent = time.monotonic(), 0
        while sent < len(pieces):
            # Piece k is due k/tps seconds after the start.
            due = min(len(pieces), int((time.monotonic() - start) * tps) + 1)
            if due > sent:
                yield pieces[sent:due]
                sent = due
                continue
            wait = start + sent / tps - time.monotonic()
            await asyncio.sleep(max(wait, MIN_TICK))


class _Reply:
    """One answer to one request: a fault, a stream, or a plain completion."""

    def __init__(
        self,
        server: ScriptedServer,
        request: web.Request,
        body: dict[str, Any],
        turn: Turn,
        fault: Fault | None,
        prompt: tuple[int, int],
    ) -> None:
        self.server = server
        self.request = request
        self.body = body
        self.turn = turn
        self.fault = fault
        self.prompt_chars, self.cached_chars = prompt
        self.reasoning_only = fault is not None and fault.kind == "empty"
        if self.reasoning_only and not turn.reasoning:
            self.turn = Turn(reasoning=EMPTY_REASONING)
        namer = server.call_namer(turn, served=fault is None)
        self.calls: list[CallPlan] = stream.plan_calls(self.turn, namer)
        self.factory = ChunkFactory(server.model)

    def usage(self, style: UsageStyle) -> dict[str, Any]:
        reasoning, output = stream.completion_chars(self.turn, self.calls, self.reasoning_only)
        return stream.build_usage(style, self.prompt_chars, self.cached_chars, reasoning, output)

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.calls and not self.reasoning_only else "stop"

    async def send(self) -> web.StreamResponse:
        fault = self.fault
        if fault is not None and fault.kind == "status":
            text = fault.text
            if fault.echo_authorization:
                text += f" (Authorization: {self.request.headers.get('Authorization', '')})"
            return _error(fault.status, text, fault.error_type, fault.retry_after)
        if self.body.get("stream"):
            return await self._stream()
        return await self._complete()

    # -- streaming ---------------------------------------------------------------

    async def _stream(self) -> web.StreamResponse:
        resp = web.StreamResponse(headers=SSE_HEADERS)
        await resp.prepare(self.request)
        try:
            if self.fault is not None and self.fault.kind in HOSTILE:
                await hostile.play(self.fault, self.factory, resp)
                return resp
            finished = await self._stream_pieces(resp)
            if finished:
                await self._stream_end(resp)
            else:
                await self._play_fault(resp)
        except ConnectionResetError:
            return resp  # the client hung up; nothing left to tell it
        return resp

    async def _stream_pieces(self, resp: web.StreamResponse) -> bool:
        """Stream the turn's pieces; False if a fault interrupts them."""
        pieces = stream.plan_pieces(self.turn, self.calls, reasoning_only=self.reasoning_only)
        limit = self.fault.after_chunks if self._fault_interrupts() else None
        sent = 0
        async for batch in self.server.paced(pieces):
            deltas = stream.group_deltas(batch)
            if limit is not None:
                deltas = deltas[: limit - sent]
            await resp.write(b"".join(_sse(self.factory.chunk(d)) for d in deltas))
            sent += len(deltas)
            if limit is not None and sent >= limit:
                return False
        return limit is None

    def _fault_interrupts(self) -> bool:
        return self.fault is not None and self.fault.kind in ("drop", "cut", "malformed", "stall")

    async def _stream_end(self, resp: web.StreamResponse) -> None:
        style = self.server.usage_style
        in_choice = self.usage("kimi") if style == "kimi" else None
        out = _sse(self.factory.chunk({}, self.finish_reason, in_choice))
        options = self.body.get("stream_options") or {}
        if style == "openai" and options.get("include_usage"):
            out += _sse(self.factory.usage_chunk(self.usage("openai")))
        await resp.write(out + _sse("[DONE]"))
        await resp.write_eof()
        if self.fault is None:
            self.server.served += 1

    async def _play_fault(self, resp: web.StreamResponse) -> None:
        assert self.fault is not None
        kind = self.fault.kind
        if kind == "drop":
            # Abort, not close: the chunked body never gets its terminator,
            # so the client sees a broken connection rather than a clean end.
            if self.request.transport is not None:
                self.request.transport.abort()
            raise ConnectionResetError
        if kind == "malformed":
            await resp.write(_sse('{"id": "' + self.factory.id + '", "choices": [{"delta": {"con'))
        if kind == "stall":
            await asyncio.sleep(self.fault.stall_s)
        await resp.write_eof()

    # -- non-streaming -------------------------------------------------------------

    def _message(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "" if self.reasoning_only else self.turn.content,
            "reasoning_content": self.turn.reasoning,
        }
        if self.calls and not self.reasoning_only:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in self.calls
            ]
        return message

    async def _complete(self) -> web.StreamResponse:
        kind = self.fault.kind if self.fault else None
        if kind in ("drop", "stall"):
            await asyncio.sleep(self.fault.stall_s if self.fault and kind == "stall" else 0)
            if self.request.transport is not None:
                self.request.transport.abort()
            return web.Response(status=500)
        usage = self.usage("kimi") if self.server.usage_style == "kimi" else self.usage("openai")
        payload = {
            "id": self.factory.id,
            "object": "chat.completion",
            "created": self.factory.created,
            "model": self.server.model,
            "choices": [
                {"index": 0, "message": self._message(), "finish_reason": self.finish_reason}
            ],
            "usage": usage,
        }
        text = json.dumps(payload, ensure_ascii=False)
        if kind in ("cut", "malformed"):
            return web.Response(text=text[: len(text) // 2], content_type="application/json")
        if self.fault is None:
            self.server.served += 1
        return web.Response(text=text, content_type="application/json")
