"""ScriptedServer over real HTTP on loopback, seen through the openai SDK and raw SSE."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai import AsyncOpenAI

from kimitui.demo.script import Fault, ToolCallSpec, Turn
from kimitui.demo.server import ScriptedServer
from kimitui.demo.stream import tokenize

THINKING = {"thinking": {"type": "enabled"}}
USER = [{"role": "user", "content": "Refactor app.py please."}]
TWO_CALLS = (
    ToolCallSpec("read_file", {"path": "app.py"}),
    ToolCallSpec("search", {"pattern": "def price_with_tax"}),
)


@dataclass
class Merged:
    """What a careful client reconstructs from a stream of SDK chunks."""

    reasoning: str = ""
    content: str = ""
    calls: dict[int, dict[str, str]] = field(default_factory=dict)
    fragments: list[dict[str, Any]] = field(default_factory=list)
    finish: str | None = None
    usage: list[dict[str, Any]] = field(default_factory=list)
    chunks: int = 0


def merge(chunks: list[Any]) -> Merged:
    out = Merged(chunks=len(chunks))
    for chunk in chunks:
        if chunk.usage is not None:
            out.usage.append(chunk.usage.model_dump(exclude_none=True))
        for choice in chunk.choices:
            _merge_choice(out, choice)
    return out


def _merge_choice(out: Merged, choice: Any) -> None:
    delta = choice.delta
    out.reasoning += getattr(delta, "reasoning_content", None) or ""
    out.content += delta.content or ""
    out.finish = choice.finish_reason or out.finish
    extra = choice.model_extra or {}
    if "usage" in extra:
        out.usage.append(extra["usage"])
    for frag in delta.tool_calls or []:
        out.fragments.append(frag.model_dump(exclude_none=True))
        call = out.calls.setdefault(frag.index, {"id": "", "name": "", "arguments": ""})
        call["id"] = frag.id or call["id"]
        if frag.function is not None:
            call["name"] = frag.function.name or call["name"]
            call["arguments"] += frag.function.arguments or ""


def client_for(server: ScriptedServer, key: str = "sk-test") -> AsyncOpenAI:
    return AsyncOpenAI(base_url=server.base_url, api_key=key, max_retries=0)


async def stream_chunks(server: ScriptedServer, **kwargs: Any) -> list[Any]:
    kwargs.setdefault("messages", USER)
    kwargs.setdefault("extra_body", THINKING)
    async with client_for(server) as client:
        stream = await client.chat.completions.create(model=server.model, stream=True, **kwargs)
        return [chunk async for chunk in stream]


async def raw_lines(server: ScriptedServer, body: dict[str, Any]) -> tuple[int, list[str]]:
    """POST a body and return the status and the `data:` payloads as text."""
    body = {"model": server.model, "messages": USER, "stream": True, **THINKING, **body}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.base_url}/chat/completions", json=body) as resp,
    ):
        text = await resp.text()
    lines = [line[len("data: ") :] for line in text.split("\n\n") if line.startswith("data: ")]
    return resp.status, lines


# -- streaming shape -------------------------------------------------------------------


async def test_reasoning_content_and_interleaved_calls_merge_through_the_sdk() -> None:
    turn = Turn(
        reasoning="The tests import from app, so I need to see both files first.",
        content="Let me look at the code.",
        tool_calls=TWO_CALLS,
        interleave=True,
    )
    async with ScriptedServer([turn]) as server:
        merged = merge(await stream_chunks(server))
    assert merged.reasoning == turn.reasoning
    assert merged.content == turn.content
    assert merged.finish == "tool_calls"
    assert merged.calls[0] == {
        "id": "functions.read_file:0",
        "name": "read_file",
        "arguments": '{"path": "app.py"}',
    }
    assert json.loads(merged.calls[1]["arguments"]) == {"pattern": "def price_with_tax"}
    assert merged.calls[1]["id"] == "functions.search:1"
    order = [f["index"] for f in merged.fragments]
    # Interleaved: call 0 has fragments both before and after call 1's.
    assert order.index(1) < len(order) - 1 - order[::-1].index(0)


async def test_calls_stream_one_after_another_without_interleave() -> None:
    async with ScriptedServer([Turn(tool_calls=TWO_CALLS)]) as server:
        merged = merge(await stream_chunks(server))
    order = [f["index"] for f in merged.fragments]
    assert order == sorted(order)
    assert merged.reasoning == "" and merged.content == ""


async def test_late_name_sends_arguments_before_the_naming_fragment() -> None:
    async with ScriptedServer([Turn(tool_calls=TWO_CALLS, late_name=True)]) as server:
        merged = merge(await stream_chunks(server))
    first = merged.fragments[0]
    assert "id" not in first and "name" not in first.get("function", {})
    assert first["function"]["arguments"]
    assert merged.calls[0]["name"] == "read_file"
    assert json.loads(merged.calls[0]["arguments"]) == {"path": "app.py"}


async def test_raw_arguments_and_given_ids_are_sent_verbatim() -> None:
    spec = ToolCallSpec("write_file", '{"path": "a.py", "content": ', id="call_7")
    async with ScriptedServer([Turn(tool_calls=(spec,))]) as server:
        merged = merge(await stream_chunks(server))
    assert merged.calls[0] == {"id": "call_7", "name": "write_file", "arguments": spec.arguments}


async def test_raw_sse_is_chunked_and_ends_with_done() -> None:
    reasoning = "I will first list the files to see how the project is laid out. " * 3
    async with ScriptedServer([Turn(reasoning=reasoning, content="Done.")]) as server:
        status, lines = await raw_lines(server, {})
    assert status == 200
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    pieces = [c["choices"][0]["delta"].get("reasoning_content", "") for c in chunks]
    assert sum(1 for p in pieces if p) > 3  # streamed in several events, not one blob
    assert "".join(pieces) == reasoning
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


@given(st.text())
def test_tokenize_keeps_every_character(text: str) -> None:
    pieces = tokenize(text)
    assert "".join(pieces) == text
    assert all(len(p.strip()) <= 4 for p in pieces)


# -- usage ---------------------------------------------------------------------------


async def test_kimi_usage_sits_in_the_final_choice_with_cache_hits() -> None:
    turns = [Turn(content="first answer"), Turn(content="second answer")]
    history = [*USER, {"role": "assistant", "content": "first answer"}]
    async with ScriptedServer(turns) as server:
        first = merge(await stream_chunks(server))
        second = merge(await stream_chunks(server, messages=[*history, *USER]))
    assert len(first.usage) == 1 and len(second.usage) == 1
    assert first.usage[0]["cached_tokens"] == 0
    assert first.usage[0]["completion_tokens"] == 3  # 12 chars / 4
    usage = second.usage[0]
    assert 0 < usage["cached_tokens"] < usage["prompt_tokens"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_openai_usage_is_a_last_chunk_with_no_choices() -> None:
    turns = [Turn(reasoning="abcd" * 5, content="ok"), Turn(content="ok")]
    async with ScriptedServer(turns, usage_style="openai") as server:
        with_usage = await stream_chunks(server, stream_options={"include_usage": True})
        without = await stream_chunks(server)
    last = with_usage[-1]
    assert last.choices == []
    assert last.usage.prompt_tokens_details.cached_tokens == 0
    assert last.usage.completion_tokens_details.reasoning_tokens == 5
    assert all("usage" not in (c.model_extra or {}) for c in with_usage)
    assert merge(without).usage == []


# -- faults -------------------------------------------------------------------------


async def test_status_faults_carry_moonshot_bodies_and_retry_after() -> None:
    turn = Turn(content="finally", faults=(Fault.rate_limited(2), Fault.unavailable(503)))
    async with ScriptedServer([turn]) as server:
        with pytest.raises(openai.RateLimitError) as limited:
            await stream_chunks(server)
        with pytest.raises(openai.InternalServerError) as unavailable:
            await stream_chunks(server)
        merged = merge(await stream_chunks(server))
    assert limited.value.response.headers["retry-after"] == "2"
    assert limited.value.body["type"] == "rate_limit_reached_error"
    assert unavailable.value.status_code == 503
    assert "retry-after" not in unavailable.value.response.headers
    assert merged.content == "finally"
    assert len(server.requests) == 3 and server.served == 1


@pytest.mark.parametrize(
    ("fault", "status", "error_type", "text"),
    [
        (Fault.overloaded(), 429, "engine_overloaded_error", "overloaded"),
        (Fault.quota_exceeded(), 429, "exceeded_current_quota_error", "insufficient balance"),
        (Fault.context_overflow(), 400, "invalid_request_error", "exceeded model token limit"),
        (Fault("status", status=502), 502, "server_error", "Bad gateway"),
    ],
)
async def test_named_faults_answer_like_moonshot(
    fault: Fault, status: int, error_type: str, text: str
) -> None:
    async with ScriptedServer([Turn(content="ok", faults=(fault,))]) as server:
        with pytest.raises(openai.APIStatusError) as err:
            await stream_chunks(server)
    assert err.value.status_code == status
    assert err.value.body["type"] == error_type
    assert text in err.value.message
    assert server.served == 0 and server.errors == []


async def test_a_client_hanging_up_mid_turn_gets_the_next_turn_next() -> None:
    turns = [Turn(reasoning="slow thought " * 50), Turn(content="second")]
    async with ScriptedServer(turns, tokens_per_second=200) as server:
        body = {"model": server.model, "messages": USER, "stream": True, **THINKING}
        async with aiohttp.ClientSession() as http:
            resp = await http.post(f"{server.base_url}/chat/completions", json=body)
            await resp.content.readuntil(b"\n\n")
            resp.close()  # hang up, as an interrupted client does
        merged = merge(await stream_chunks(server))
    assert merged.content == "second"
    assert server.errors == [] and server.served == 1


async def test_drop_closes_the_connection_mid_stream() -> None:
    turn = Turn(reasoning="thinking " * 40, faults=(Fault("drop", after_chunks=2),))
    async with ScriptedServer([turn]) as server:
        received: list[Any] = []
        async with client_for(server) as client:
            stream = await client.chat.completions.create(
                model=server.model, messages=USER, stream=True, extra_body=THINKING
            )
            with pytest.raises(openai.APIConnectionError):
                async for chunk in stream:
                    received.append(chunk)
        assert len(received) == 2
        retried = merge(await stream_chunks(server))
    assert retried.finish == "stop" and server.served == 1


async def test_cut_ends_cleanly_without_finish_reason_or_done() -> None:
    turn = Turn(reasoning="thinking " * 40, faults=(Fault("cut", after_chunks=3),) * 2)
    async with ScriptedServer([turn]) as server:
        merged = merge(await stream_chunks(server))
        status, lines = await raw_lines(server, {})
    assert merged.chunks == 3 and merged.finish is None and merged.usage == []
    assert status == 200 and "[DONE]" not in lines
    assert all(json.loads(line)["choices"][0]["finish_reason"] is None for line in lines)


async def test_malformed_chunk_is_not_json() -> None:
    turn = Turn(content="hello " * 20, faults=(Fault("malformed", after_chunks=1),) * 2)
    async with ScriptedServer([turn]) as server:
        with pytest.raises(json.JSONDecodeError):
            await stream_chunks(server)
        _, lines = await raw_lines(server, {})
    json.loads(lines[0])
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[1])
    assert len(lines) == 2


async def test_stall_goes_silent_and_stop_does_not_wait_for_it() -> None:
    turn = Turn(reasoning="thinking " * 40, faults=(Fault("stall", after_chunks=1, stall_s=30),))
    server = ScriptedServer([turn])
    await server.start()
    body = {"model": server.model, "messages": USER, "stream": True, **THINKING}
    timeout = aiohttp.ClientTimeout(sock_read=0.3)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        async with http.post(f"{server.base_url}/chat/completions", json=body) as resp:
            first = await resp.content.readuntil(b"\n\n")
            with pytest.raises(TimeoutError):
                await resp.content.readuntil(b"\n\n")
        started = time.monotonic()
        await server.stop()
    assert first.startswith(b"data: {")
    assert time.monotonic() - started < 20  # not held until the stream's end


async def test_empty_answer_is_reasoning_only_then_the_turn() -> None:
    turn = Turn(content="real answer", tool_calls=TWO_CALLS[:1], faults=(Fault("empty"),))
    async with ScriptedServer([turn]) as server:
        empty = merge(await stream_chunks(server))
        real = merge(await stream_chunks(server))
    assert empty.reasoning and empty.content == "" and empty.calls == {}
    assert empty.finish == "stop" and len(empty.usage) == 1
    assert real.content == "real answer" and real.finish == "tool_calls"
    assert real.calls[0]["id"] == "functions.read_file:0"
    assert server.served == 1


# -- strict validation ------------------------------------------------------------------

CALL = {"id": "functions.read_file:0", "type": "function"}
CALL["function"] = {"name": "read_file", "arguments": '{"path": "app.py"}'}
ASSISTANT_CALL = {"role": "assistant", "tool_calls": [CALL], "reasoning_content": ""}
TOOL_REPLY = {"role": "tool", "tool_call_id": CALL["id"], "content": "print('hi')"}
UNTYPED_TOOL = {
    "type": "function",
    "function": {
        "name": "read_file",
        "parameters": {"type": "object", "properties": {"path": {"description": "file"}}},
    },
}
NO_REASONING = {k: v for k, v in ASSISTANT_CALL.items() if k != "reasoning_content"}


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"temperature": 0.3}, "invalid temperature: only 1 is allowed for this model"),
        ({"tools": [UNTYPED_TOOL]}, "At path 'properties.path': type is not defined"),
        (
            {"messages": [*USER, NO_REASONING, TOOL_REPLY]},
            "thinking is enabled but reasoning_content is missing in assistant tool call "
            "message at index 1",
        ),
        (
            {"messages": [*USER, {**ASSISTANT_CALL, "content": ""}, TOOL_REPLY]},
            "text content is empty",
        ),
        ({"messages": [*USER, ASSISTANT_CALL, *USER]}, "has no tool message answering it"),
        ({"messages": [*USER, TOOL_REPLY]}, "is not found"),
        ({"thinking": {"type": "disabled"}}, "thinking must be enabled"),
    ],
)
async def test_strict_mode_rejects_like_moonshot(body: dict[str, Any], text: str) -> None:
    async with ScriptedServer([Turn(content="never")]) as server:
        status, _ = await raw_lines(server, body)
        with pytest.raises(openai.BadRequestError) as bad:
            await stream_chunks(server, **_sdk_kwargs(body))
    assert status == 400
    assert text in bad.value.message
    assert len(server.errors) == 2 and text in server.errors[0]
    assert server.served == 0


def _sdk_kwargs(body: dict[str, Any]) -> dict[str, Any]:
    extra = {**THINKING, **{k: v for k, v in body.items() if k == "thinking"}}
    kwargs = {k: v for k, v in body.items() if k != "thinking"}
    return {**kwargs, "extra_body": extra}


async def test_a_well_formed_conversation_passes_strict_mode() -> None:
    messages = [*USER, ASSISTANT_CALL, TOOL_REPLY]
    async with ScriptedServer([Turn(content="ok")]) as server:
        merged = merge(await stream_chunks(server, messages=messages, temperature=1))
    assert merged.content == "ok" and server.errors == []


async def test_lenient_mode_accepts_what_strict_mode_refuses() -> None:
    async with ScriptedServer([Turn(content="ok")], strict=False) as server:
        merged = merge(await stream_chunks(server, temperature=0.2, extra_body={}))
    assert merged.content == "ok" and server.errors == []


# -- auth, models, script control ----------------------------------------------------------


async def test_wrong_key_gets_401_and_the_right_key_passes() -> None:
    async with ScriptedServer([Turn(content="hi")], api_key="sk-right") as server:
        async with client_for(server, "sk-kimi-wrong") as wrong:
            with pytest.raises(openai.AuthenticationError) as denied:
                await wrong.chat.completions.create(model=server.model, messages=USER)
            with pytest.raises(openai.AuthenticationError):
                await wrong.models.list()
        async with client_for(server, "sk-right") as right:
            answer = await right.chat.completions.create(
                model=server.model, messages=USER, extra_body=THINKING
            )
    assert denied.value.body["type"] == "invalid_authentication_error"
    assert "Invalid Authentication" in denied.value.message
    assert answer.choices[0].message.content == "hi"
    assert server.request_headers[-1]["authorization"] == "Bearer sk-right"


async def test_models_lists_the_model_with_its_context_length() -> None:
    server = ScriptedServer([], model="kimi-test", context_length=1000)
    async with server, client_for(server) as client:
        page = await client.models.list()
    assert [m.id for m in page.data] == ["kimi-test"]
    assert page.data[0].model_extra["context_length"] == 1000


async def test_callables_see_the_request_body() -> None:
    def echo(body: dict[str, Any]) -> Turn:
        return Turn(content=f"you said: {body['messages'][-1]['content']}")

    async with ScriptedServer([echo]) as server:
        merged = merge(await stream_chunks(server))
    assert merged.content == "you said: Refactor app.py please."


async def test_a_script_that_raises_is_reported_not_hidden() -> None:
    def broken(body: dict[str, Any]) -> Turn:
        raise KeyError("tools")

    async with ScriptedServer([broken]) as server:
        with pytest.raises(openai.InternalServerError) as err:
            await stream_chunks(server)
    assert "script error: KeyError('tools')" in err.value.message
    assert server.errors == ["script error: KeyError('tools')"]


async def test_expect_failures_answer_400_and_are_recorded() -> None:
    def wants_tools(body: dict[str, Any]) -> str | None:
        return None if body.get("tools") else "expected the tool list"

    async with ScriptedServer([Turn(content="ok", expect=wants_tools)] * 2) as server:
        with pytest.raises(openai.BadRequestError) as bad:
            await stream_chunks(server)
        tools = [{"type": "function", "function": {"name": "list_files", "parameters": {}}}]
        merged = merge(await stream_chunks(server, tools=tools))
    assert "expected the tool list" in bad.value.message
    assert server.errors == ["expected the tool list"]
    assert merged.content == "ok"


async def test_exhausted_script_answers_400() -> None:
    async with ScriptedServer([Turn(content="only one")]) as server:
        await stream_chunks(server)
        with pytest.raises(openai.BadRequestError) as bad:
            await stream_chunks(server)
    assert "script exhausted" in bad.value.message
    assert server.errors == ["script exhausted"]


async def test_requests_are_recorded_with_times_and_headers() -> None:
    turn = Turn(content="ok", faults=(Fault.overloaded(),))
    async with ScriptedServer([turn]) as server:
        with pytest.raises(openai.RateLimitError):
            await stream_chunks(server)
        await stream_chunks(server, extra_body={**THINKING, "prompt_cache_key": "s1"})
    assert len(server.requests) == 2
    assert server.requests[1]["prompt_cache_key"] == "s1"
    assert server.request_times[0] <= server.request_times[1]
    assert server.request_headers[0]["content-type"] == "application/json"


async def test_non_streaming_request_gets_a_whole_completion() -> None:
    turn = Turn(reasoning="short thought", content="summary", tool_calls=TWO_CALLS[:1])
    server = ScriptedServer([turn])
    async with server, client_for(server) as client:
        answer = await client.chat.completions.create(
            model=server.model, messages=USER, extra_body=THINKING
        )
    message = answer.choices[0].message
    assert message.content == "summary"
    assert message.model_extra["reasoning_content"] == "short thought"
    assert message.tool_calls[0].function.name == "read_file"
    assert answer.usage.prompt_tokens > 0


# -- pacing and threads -------------------------------------------------------------------


async def test_pacing_is_roughly_honoured() -> None:
    text = "abcd" * 200  # 200 tokens
    async with ScriptedServer([Turn(content=text)], tokens_per_second=100) as server:
        started = time.monotonic()
        merged = merge(await stream_chunks(server))
        elapsed = time.monotonic() - started
    assert merged.content == text
    assert elapsed >= 1.5  # paced: a busy machine can only make it slower


async def test_fast_pacing_shares_events_between_tokens() -> None:
    text = "abcd" * 2000  # 2000 tokens at 5000/s: about 0.4 s
    async with ScriptedServer([Turn(content=text)], tokens_per_second=5000) as server:
        started = time.monotonic()
        _, lines = await raw_lines(server, {})
        elapsed = time.monotonic() - started
    assert elapsed >= 0.3
    assert len(lines) < 100  # far fewer events than tokens


def test_run_in_thread_serves_sync_callers() -> None:
    server = ScriptedServer([Turn(content="from a thread")])
    with (
        server.run_in_thread() as base_url,
        openai.OpenAI(base_url=base_url, api_key="x", max_retries=0) as client,
    ):
        answer = client.chat.completions.create(
            model=server.model, messages=USER, extra_body=THINKING
        )
    assert answer.choices[0].message.content == "from a thread"
    assert base_url.startswith("http://127.0.0.1:") and server.served == 1


def test_demo_package_stays_clear_of_the_engine_and_the_tui() -> None:
    code = (
        "import sys, kimitui.demo, kimitui.demo.server, kimitui.demo.refactor\n"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'textual'"
        " or m.startswith(('kimitui.core', 'kimitui.tui'))]\n"
        "print(bad)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
