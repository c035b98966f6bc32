"""ModelClient against the scripted server over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from kimitui.core.events import ContentDelta, Event, ReasoningDelta, RetryScheduled
from kimitui.core.llm import (
    CHINA_URL,
    INTERNATIONAL_URL,
    MAX_RETRY_AFTER_S,
    ClientConfig,
    Completion,
    ModelClient,
    ModelError,
    assistant_message,
    parse_context_length,
    parse_retry_after,
    split_query,
)
from kimitui.demo.script import Fault, ToolCallSpec, Turn, TurnSource
from kimitui.demo.server import ScriptedServer

SYSTEM = {"role": "system", "content": "You are a test."}
USER = {"role": "user", "content": "Do the thing."}
READ_TOOL = {
    "type": "function",
    "function": {
        "name": "read_file",
        "description": "Read a file.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    },
}


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


@asynccontextmanager
async def model(
    turns: Sequence[TurnSource], *, server_kw: dict | None = None, **config: Any
) -> AsyncIterator[tuple[ScriptedServer, ModelClient]]:
    async with ScriptedServer(turns, **(server_kw or {})) as server:
        cfg = ClientConfig(base_url=server.base_url, api_key="sk-test", backoff_base=0.01)
        for key, value in config.items():
            setattr(cfg, key, value)
        client = ModelClient(cfg, session_id="sess-123")
        try:
            yield server, client
        finally:
            await client.close()


async def ask(client: ModelClient, rec: Recorder | None = None) -> Completion:
    return await client.stream([SYSTEM, USER], [READ_TOOL], rec or Recorder())


async def test_merges_reasoning_content_and_interleaved_late_named_calls() -> None:
    turn = Turn(
        reasoning="I should read both files before changing anything.",
        content="Reading.",
        tool_calls=(
            ToolCallSpec("read_file", {"path": "app.py"}),
            ToolCallSpec("read_file", {"path": "test_app.py"}),
        ),
        interleave=True,
        late_name=True,
    )
    rec = Recorder()
    async with model([turn]) as (server, client):
        result = await ask(client, rec)
    assert result.reasoning == turn.reasoning
    assert result.content == "Reading."
    assert [(c.name, c.arguments) for c in result.tool_calls] == [
        ("read_file", '{"path": "app.py"}'),
        ("read_file", '{"path": "test_app.py"}'),
    ]
    assert all(c.id.startswith("functions.read_file:") for c in result.tool_calls)
    assert result.finish_reason == "tool_calls"
    assert "".join(e.text for e in rec.of(ReasoningDelta)) == turn.reasoning
    assert "".join(e.text for e in rec.of(ContentDelta)) == "Reading."
    assert server.errors == []


@pytest.mark.parametrize("style", ["kimi", "openai"])
async def test_reads_usage_from_either_placement(style: str) -> None:
    thought = "Let me weigh the two options before answering. " * 4
    turns = [Turn(reasoning=thought, content="first"), Turn(reasoning=thought, content="second")]
    async with model(turns, server_kw={"usage_style": style}) as (_, client):
        first = await ask(client)
        second = await client.stream(
            [
                SYSTEM,
                USER,
                {"role": "assistant", "content": "first"},
                {"role": "user", "content": "again"},
            ],
            [READ_TOOL],
            Recorder(),
        )
    assert first.usage is not None and second.usage is not None
    assert first.usage.prompt > 0 and first.usage.completion > 0
    # The second request repeats the first one's prefix, so the server reports cache hits.
    assert second.usage.cached > 0
    assert second.usage.cached < second.usage.prompt
    assert 0 < second.usage.reasoning < second.usage.completion


async def test_request_shape_follows_kimi_rules() -> None:
    async with model([Turn(content="hi")]) as (server, client):
        await ask(client)
    body = server.requests[0]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["thinking"] == {"type": "enabled"}
    assert body["prompt_cache_key"] == "sess-123"
    for sampling in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        assert sampling not in body
    assert server.request_headers[0]["authorization"] == "Bearer sk-test"


async def test_temperature_is_sent_only_when_configured() -> None:
    async with model([Turn(content="hi")], temperature=1.0) as (server, client):
        await ask(client)
    assert server.requests[0]["temperature"] == 1.0


async def test_tool_call_turn_is_echoed_with_reasoning_and_without_empty_content() -> None:
    call = ToolCallSpec("read_file", {"path": "a.py"})
    async with model([Turn(reasoning="", tool_calls=(call,)), Turn(content="done")]) as (
        server,
        client,
    ):
        first = await ask(client)
        echoed = assistant_message(first)
        assert echoed["reasoning_content"] == ""
        assert "content" not in echoed
        tool_msg = {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": "x = 1"}
        second = await client.stream([SYSTEM, USER, echoed, tool_msg], [READ_TOOL], Recorder())
    assert second.content == "done"
    # The strict server checks what Moonshot checks; it found nothing to reject.
    assert server.errors == []


async def test_server_rejects_what_the_client_must_never_send() -> None:
    """The rules above matter: the strict server refuses the textbook shape."""
    bad = {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": "{}"}}
        ],
    }
    async with model([Turn(content="never")]) as (server, client):
        with pytest.raises(ModelError) as info:
            await client.stream([SYSTEM, USER, bad], [READ_TOOL], Recorder())
    assert info.value.status == 400
    assert len(server.requests) == 1


async def test_two_503_then_success() -> None:
    turn = Turn(content="ok", faults=(Fault.unavailable(), Fault.unavailable()))
    rec = Recorder()
    async with model([turn]) as (server, client):
        result = await ask(client, rec)
    assert result.content == "ok"
    assert len(server.requests) == 3
    assert [r.attempt for r in rec.of(RetryScheduled)] == [1, 2]


async def test_retry_after_is_honoured() -> None:
    turn = Turn(content="ok", faults=(Fault.rate_limited(retry_after=2),))
    rec = Recorder()
    async with model([turn]) as (server, client):
        await ask(client, rec)
    assert rec.of(RetryScheduled)[0].wait_s == 2
    assert server.request_times[1] - server.request_times[0] >= 2


async def test_a_long_retry_after_asks_first_and_stop_means_no_wait() -> None:
    turn = Turn(content="ok", faults=(Fault.rate_limited(retry_after=61),))
    asked: list[tuple[float, str]] = []
    slept: list[float] = []

    async def refuse(wait: float, reason: str) -> bool:
        asked.append((wait, reason))
        return False

    async def no_sleep(seconds: float) -> None:
        slept.append(seconds)

    rec = Recorder()
    async with model([turn]) as (server, client):
        client.confirm_wait, client._sleep = refuse, no_sleep
        with pytest.raises(ModelError) as caught:
            await ask(client, rec)
    assert caught.value.kind == "rate_limited_stop"
    assert "61 s" in str(caught.value) and "stopped" in str(caught.value)
    assert [w for w, _ in asked] == [61] and "rate limit" in asked[0][1]
    assert len(server.requests) == 1 and slept == [] and rec.of(RetryScheduled) == []


async def test_a_long_retry_after_the_user_accepts_is_waited_for() -> None:
    turn = Turn(content="ok", faults=(Fault.rate_limited(retry_after=61),))
    slept: list[float] = []

    async def accept(wait: float, reason: str) -> bool:
        return True

    async def no_sleep(seconds: float) -> None:
        slept.append(seconds)

    async with model([turn]) as (server, client):
        client.confirm_wait, client._sleep = accept, no_sleep
        completion = await ask(client)
    assert completion.content == "ok" and slept == [61] and len(server.requests) == 2


@pytest.mark.parametrize(
    "fault",
    [
        Fault("drop", after_chunks=2),
        Fault("cut", after_chunks=2),
        Fault("malformed", after_chunks=2),
        Fault("stall", after_chunks=2, stall_s=5.0),
    ],
    ids=["drop", "cut", "malformed", "stall"],
)
async def test_broken_stream_is_retried_and_never_taken_as_whole(fault: Fault) -> None:
    turn = Turn(
        reasoning="Thinking carefully about the whole answer first. " * 3,
        content="The complete answer.",
        faults=(fault,),
    )
    rec = Recorder()
    async with model([turn], idle_timeout=0.5) as (server, client):
        result = await ask(client, rec)
    assert len(server.requests) == 2
    assert result.content == "The complete answer."
    assert result.reasoning == turn.reasoning
    assert result.finish_reason == "stop"
    assert len(rec.of(RetryScheduled)) == 1


async def test_empty_answer_is_retried_once_then_reported() -> None:
    once = Turn(content="real answer", faults=(Fault("empty"),))
    async with model([once]) as (server, client):
        assert (await ask(client)).content == "real answer"
    assert len(server.requests) == 2

    twice = Turn(content="never seen", faults=(Fault("empty"), Fault("empty")))
    async with model([twice]) as (server, client):
        with pytest.raises(ModelError) as info:
            await ask(client)
    assert info.value.kind == "empty"
    assert len(server.requests) == 2


async def test_endless_503_gives_up_after_the_attempt_limit() -> None:
    turn = Turn(content="never", faults=tuple(Fault.unavailable() for _ in range(10)))
    rec = Recorder()
    async with model([turn], max_attempts=3) as (server, client):
        with pytest.raises(ModelError) as info:
            await ask(client, rec)
    assert len(server.requests) == 3
    assert "gave up after 3 attempts" in str(info.value)
    waits = [r.wait_s for r in rec.of(RetryScheduled)]
    assert len(waits) == 2 and waits[1] > waits[0] * 0.5


async def test_401_names_the_base_url_and_both_regions() -> None:
    async with model([Turn(content="x")], server_kw={"api_key": "sk-right"}) as (
        server,
        client,
    ):
        with pytest.raises(ModelError) as info:
            await ask(client)
    message = str(info.value)
    assert len(server.requests) == 1
    assert info.value.kind == "auth"
    assert server.base_url in message
    assert INTERNATIONAL_URL in message and CHINA_URL in message
    assert "sk-kimi-" in message and "$MOONSHOT_API_KEY" in message


def test_401_on_moonshot_suggests_the_other_region() -> None:
    import httpx2
    import openai

    from kimitui.core.llm import classify_status

    request = httpx2.Request("POST", f"{CHINA_URL}/chat/completions")
    response = httpx2.Response(401, request=request)
    err = openai.AuthenticationError(
        "Invalid Authentication",
        response=response,
        body={
            "error": {"message": "Invalid Authentication", "type": "invalid_authentication_error"}
        },
    )
    message = str(classify_status(err, ClientConfig(base_url=CHINA_URL)))
    assert CHINA_URL in message and f"the international endpoint {INTERNATIONAL_URL}" in message


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (Fault.quota_exceeded(), "quota"),
        (Fault.context_overflow(), "context_overflow"),
        (Fault("status", status=404, message="Not found the model"), "not_found"),
        (Fault("status", status=403, message="Forbidden"), "forbidden"),
        (Fault("status", status=422, message="Unprocessable"), "rejected"),
    ],
    ids=["quota", "overflow", "404", "403", "422"],
)
async def test_errors_that_retrying_cannot_fix_are_sent_once(fault: Fault, kind: str) -> None:
    async with model([Turn(content="x", faults=(fault,))]) as (server, client):
        with pytest.raises(ModelError) as info:
            await ask(client)
    assert info.value.kind == kind
    assert len(server.requests) == 1


async def test_context_window_comes_from_models_endpoint() -> None:
    async with model([], server_kw={"context_length": 131_072}) as (_, client):
        assert await client.context_window() == 131_072


# -- what a broken server can send (issue 14) -------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("nan", None),
        ("inf", MAX_RETRY_AFTER_S),
        ("1e308", MAX_RETRY_AFTER_S),
        ("-3", 0.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER_S),
        ("soon", None),
        ("2.5", 2.5),
    ],
)
def test_a_retry_after_never_asks_for_an_unbounded_sleep(
    header: str, seconds: float | None
) -> None:
    assert parse_retry_after(header) == seconds


@pytest.mark.parametrize(
    ("value", "window"),
    [
        (131_072, 131_072),
        ("131072", 131_072),
        (131_072.0, 131_072),
        (True, None),
        ("1e5", None),
        (0, None),
        (10**12, None),
        (None, None),
        ([1], None),
    ],
)
def test_context_length_must_be_a_sane_whole_number(value: Any, window: int | None) -> None:
    assert parse_context_length(value) == window


def test_a_base_url_query_rides_on_every_request_not_before_the_path() -> None:
    assert split_query("https://h/v1?api-version=2024-06-01&key=") == (
        "https://h/v1",
        {"api-version": "2024-06-01", "key": ""},
    )
    assert split_query("https://h/v1") == ("https://h/v1", {})
