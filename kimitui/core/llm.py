"""Streaming chat-completions client for Kimi and other OpenAI-compatible endpoints.

The official SDK does the HTTP; this module owns everything Kimi does
differently (see shared/KIMI_API.md): how requests are shaped, how streamed
deltas merge, where usage hides, and which failures deserve a retry. The
SDK's own retries are off so that the policy lives in one place.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kimitui.core.budget import TokenUsage

if TYPE_CHECKING:
    # The SDK costs most of a second to import: a front end shows its first
    # frame before the first request brings it in.
    import openai
from kimitui.core.events import (
    ContentDelta,
    Event,
    ReasoningDelta,
    RetryScheduled,
    ToolCallDelta,
)
from kimitui.core.jsoncache import EncodedMessages

INTERNATIONAL_URL = "https://api.moonshot.ai/v1"
CHINA_URL = "https://api.moonshot.cn/v1"
NEVER_RETRY = {400, 401, 403, 404, 422}

Emit = Callable[[Event], None]
# (seconds to wait, why) -> wait? A TUI asks the user; None keeps waiting silently.
ConfirmWait = Callable[[float, str], Awaitable[bool]]
LONG_WAIT_S = 60.0


class ModelError(Exception):
    """A model call failed; ``str()`` says what happened and what to do."""

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass
class ToolCallDraft:
    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class Completion:
    reasoning: str = ""
    content: str = ""
    tool_calls: list[ToolCallDraft] = field(default_factory=list)
    finish_reason: str | None = None
    usage: TokenUsage | None = None

    @property
    def empty(self) -> bool:
        return not self.content.strip() and not self.tool_calls


def _extra(obj: Any, name: str) -> Any:
    """A field the SDK's models do not declare (Kimi's extensions) or do."""
    value = getattr(obj, name, None)
    if value is None:
        value = (getattr(obj, "model_extra", None) or {}).get(name)
    return value


def _as_dict(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    return obj.model_dump()


def read_usage(raw: Any) -> tuple[int, int, int, int | None]:
    """(prompt, completion, cached, reasoning-or-None) from either placement's shape."""
    data = _as_dict(raw)
    details = data.get("prompt_tokens_details") or {}
    cached = data.get("cached_tokens") or details.get("cached_tokens") or 0
    reasoning = (data.get("completion_tokens_details") or {}).get("reasoning_tokens")
    return (
        int(data.get("prompt_tokens") or 0),
        int(data.get("completion_tokens") or 0),
        int(cached),
        None if reasoning is None else int(reasoning),
    )


class StreamMerger:
    """Folds chat.completion.chunk dicts (as decoded from the SSE) into one Completion.

    Tool calls merge by ``index`` because parallel calls interleave and an
    arguments fragment may arrive before the fragment that names its call.
    """

    def __init__(self) -> None:
        self._reasoning: list[str] = []
        self._content: list[str] = []
        self._calls: dict[int, ToolCallDraft] = {}
        # Arguments arrive in thousands of pieces for a big write_file: joined once at
        # the end, since `+=` on a draft's string copied it whole every time (quadratic).
        self._arguments: dict[int, list[str]] = {}
        self._argument_chars: dict[int, int] = {}
        self.finish_reason: str | None = None
        self._usage: Any = None

    @property
    def reasoning(self) -> str:
        return "".join(self._reasoning)

    @property
    def content(self) -> str:
        return "".join(self._content)

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        if chunk.get("usage") is not None:
            self._usage = chunk["usage"]
        events: list[Event] = []
        for choice in chunk.get("choices") or []:
            events.extend(self._feed_delta(choice.get("delta")))
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
            if choice.get("usage") is not None:  # Kimi's placement
                self._usage = choice["usage"]
        return events

    def _feed_delta(self, delta: dict[str, Any] | None) -> list[Event]:
        if not delta:
            return []
        events: list[Event] = []
        thinking = delta.get("reasoning_content") or delta.get("reasoning")
        if thinking:
            self._reasoning.append(thinking)
            events.append(ReasoningDelta(thinking))
        if delta.get("content"):
            self._content.append(delta["content"])
            events.append(ContentDelta(delta["content"]))
        for frag in delta.get("tool_calls") or []:
            events.extend(self._feed_call(frag))
        return events

    def _feed_call(self, frag: dict[str, Any]) -> list[Event]:
        index = frag.get("index")
        index = len(self._calls) if index is None else int(index)
        draft = self._calls.setdefault(index, ToolCallDraft(index=index))
        if frag.get("id"):
            draft.id = frag["id"]
        fn = frag.get("function") or {}
        if fn.get("name"):
            draft.name = fn["name"]
        piece = fn.get("arguments")
        if piece:
            self._arguments.setdefault(index, []).append(piece)
            self._argument_chars[index] = self._argument_chars.get(index, 0) + len(piece)
        if not draft.name:
            return []
        return [ToolCallDelta(index, draft.name, self._argument_chars.get(index, 0))]

    def result(self) -> Completion:
        calls = [self._calls[i] for i in sorted(self._calls)]
        for call in calls:
            call.arguments = "".join(self._arguments.get(call.index, ()))
        return Completion(
            reasoning=self.reasoning,
            content=self.content,
            tool_calls=calls,
            finish_reason=self.finish_reason,
            usage=self._token_usage(calls),
        )

    def _token_usage(self, calls: list[ToolCallDraft]) -> TokenUsage | None:
        if self._usage is None:
            return None
        prompt, completion, cached, reasoning = read_usage(self._usage)
        if reasoning is None:
            reasoning = estimate_reasoning_share(
                completion, self.reasoning, self.content + "".join(c.arguments for c in calls)
            )
        return TokenUsage(prompt=prompt, completion=completion, reasoning=reasoning, cached=cached)


def estimate_reasoning_share(completion: int, reasoning: str, visible: str) -> int:
    """Kimi bills thinking as output without a breakdown: split by characters."""
    chars = len(reasoning) + len(visible)
    if not chars:
        return 0
    return round(completion * len(reasoning) / chars)


def assistant_message(completion: Completion) -> dict[str, Any]:
    """The assistant turn as it must be sent back to Kimi.

    ``reasoning_content`` is echoed (an empty string counts) or thinking
    models answer 400; empty ``content`` is omitted or they answer 400 too.
    """
    msg: dict[str, Any] = {"role": "assistant", "reasoning_content": completion.reasoning}
    if completion.content:
        msg["content"] = completion.content
    if completion.tool_calls:
        msg["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in completion.tool_calls
        ]
    return msg


@dataclass
class ClientConfig:
    base_url: str = INTERNATIONAL_URL
    api_key: str = ""
    model: str = "kimi-k2.7-code"
    api_key_env: str = "MOONSHOT_API_KEY"
    temperature: float | None = None
    thinking: bool = True
    idle_timeout: float = 90.0
    max_attempts: int = 4
    backoff_base: float = 1.0
    backoff_max: float = 30.0


def _other_region(base_url: str) -> str:
    if "moonshot.cn" in base_url:
        return f"the international endpoint {INTERNATIONAL_URL}"
    if "moonshot.ai" in base_url:
        return f"the China endpoint {CHINA_URL}"
    return f"{INTERNATIONAL_URL} (international) or {CHINA_URL} (China)"


def _error_body(err: openai.APIStatusError) -> tuple[str, str]:
    body = err.body if isinstance(err.body, dict) else {}
    inner = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
    message = inner.get("message") or str(body or err.message)
    return str(message), str(inner.get("type") or "")


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def classify_status(err: openai.APIStatusError, config: ClientConfig) -> ModelError:
    """Turn an HTTP error into a message that says what to do next."""
    status = err.status_code
    message, etype = _error_body(err)
    base = config.base_url
    if status == 401:
        return ModelError(
            f"401 {message} from {base}. A Moonshot key works only on the platform that "
            f"issued it: if yours was issued for the other region, use --base-url with "
            f"{_other_region(base)}. Kimi Code subscription keys (sk-kimi-...) do not work "
            f"on the platform API. Check the key in ${config.api_key_env}.",
            kind="auth",
            status=status,
        )
    if status == 429 and ("quota" in etype or "quota" in message.lower()):
        return ModelError(
            f"429 {message}: the account's balance or quota is used up. Top it up on the "
            "platform's billing page; retrying will not help.",
            kind="quota",
            status=status,
        )
    if status == 403:
        return ModelError(
            f"403 {message}: this key may not use {config.model} at {base} "
            "(permission, region or content policy).",
            kind="forbidden",
            status=status,
        )
    if status == 404:
        return ModelError(
            f"404 {message}: {base} does not know the model {config.model!r}. "
            "Check --model (GET /models lists what the endpoint serves) and --base-url.",
            kind="not_found",
            status=status,
        )
    if status == 400 and ("token limit" in message or "context length" in message.lower()):
        return ModelError(
            f"400 context overflow: {message}", kind="context_overflow", status=status
        )
    if status in NEVER_RETRY:
        hint = ""
        if "temperature" in message:
            hint = " Remove the temperature setting: thinking models accept only their default."
        return ModelError(
            f"{status} the server rejected the request: {message}.{hint}",
            kind="rejected",
            status=status,
        )
    return ModelError(
        f"{status} {etype or 'server error'}: {message}",
        kind="overloaded" if status == 429 else "server",
        status=status,
        retryable=True,
        retry_after=parse_retry_after(err.response.headers.get("retry-after")),
    )


class ModelClient:
    """One conversation's connection to the model, with the retry policy."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        session_id: str,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        confirm_wait: ConfirmWait | None = None,
    ) -> None:
        self.config = config
        # Asked before a wait longer than LONG_WAIT_S; False stops instead of waiting.
        self.confirm_wait = confirm_wait
        self.session_id = session_id
        self._sleep = sleep
        self._rand = rand
        self._sdk: openai.AsyncOpenAI | None = None
        self.partial = StreamMerger()
        self.encoded = EncodedMessages()

    @property
    def _client(self) -> openai.AsyncOpenAI:
        if self._sdk is None:
            from openai import AsyncOpenAI

            self._sdk = AsyncOpenAI(
                api_key=self.config.api_key or "unset",
                base_url=self.config.base_url,
                max_retries=0,
                timeout=self.config.idle_timeout + 5.0,
            )
        return self._sdk

    async def _ready(self) -> openai.AsyncOpenAI:
        """The SDK client. Importing the SDK takes ~0.6 s of CPU: on a thread, so a
        front end keeps drawing (the TUI's first frame must not wait for it)."""
        if self._sdk is None:
            await asyncio.to_thread(importlib.import_module, "openai")
        return self._client

    async def close(self) -> None:
        if self._sdk is not None:
            await self._sdk.close()

    async def context_window(self) -> int | None:
        """The model's window from ``GET /models``, when the endpoint says."""
        client = await self._ready()
        import openai

        try:
            page = await asyncio.wait_for(client.models.list(), timeout=5.0)
        except (openai.OpenAIError, TimeoutError):
            return None
        for model in page.data:
            if model.id == self.config.model:
                length = _extra(model, "context_length")
                return int(length) if length else None
        return None

    def build_request(self, messages: list[dict], tools: list[dict]) -> dict[str, Any]:
        """The request body, sent as it is: see :meth:`_open_stream`."""
        request: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "prompt_cache_key": self.session_id,
        }
        if tools:
            request["tools"] = tools
        if self.config.temperature is not None:
            request["temperature"] = self.config.temperature
        if self.config.thinking:
            request["thinking"] = {"type": "enabled"}
        return request

    async def stream(
        self,
        messages: list[dict],
        tools: list[dict],
        emit: Emit,
        *,
        time_left: Callable[[], float | None] = lambda: None,
    ) -> Completion:
        """Stream one answer, retrying what is worth retrying; raise ModelError otherwise."""
        attempt = 0
        empty_retried = False
        while True:
            attempt += 1
            try:
                completion = await self._attempt(messages, tools, emit)
                if not completion.empty or empty_retried:
                    return self._check_empty(completion)
                empty_retried = True
                raise ModelError(
                    "the model answered with thinking only", kind="empty", retryable=True
                )
            except ModelError as err:
                if not err.retryable or attempt >= self.config.max_attempts:
                    raise self._final(err, attempt) from err
                wait = self._backoff(err, attempt)
                left = time_left()
                if left is not None and wait > left:
                    raise ModelError(
                        f"{err} (the server asks to wait {wait:.0f} s, more than the "
                        f"{left:.0f} s left in the time budget)",
                        kind=err.kind,
                        status=err.status,
                    ) from err
                await self._confirm_long_wait(err, wait)
                emit(RetryScheduled(attempt=attempt, reason=str(err), wait_s=round(wait, 2)))
                await self._sleep(wait)

    async def _confirm_long_wait(self, err: ModelError, wait: float) -> None:
        """A front end may refuse a long wait (e.g. a Retry-After of minutes)."""
        if self.confirm_wait is None or wait <= LONG_WAIT_S:
            return
        if not await self.confirm_wait(wait, str(err)):
            raise ModelError(
                f"{err} (the server asked to wait {wait:.0f} s; stopped instead of waiting)",
                kind="rate_limited_stop",
                status=err.status,
            ) from err

    def _check_empty(self, completion: Completion) -> Completion:
        if completion.empty:
            raise ModelError(
                "the model answered twice with thinking only (no text, no tool call); "
                "rephrase the task or try again",
                kind="empty",
            )
        return completion

    def _final(self, err: ModelError, attempt: int) -> ModelError:
        if not err.retryable:
            return err
        return ModelError(
            f"gave up after {attempt} attempts: {err}", kind=err.kind, status=err.status
        )

    def _backoff(self, err: ModelError, attempt: int) -> float:
        if err.retry_after is not None:
            return err.retry_after
        ceiling = min(self.config.backoff_max, self.config.backoff_base * 2 ** (attempt - 1))
        # Full jitter keeps many clients from retrying in lockstep.
        return ceiling * (0.5 + self._rand() / 2)

    async def _attempt(self, messages: list[dict], tools: list[dict], emit: Emit) -> Completion:
        await self._ready()  # before `import openai`, which would block the loop
        import openai

        self.partial = merger = StreamMerger()
        try:
            stream = await self._open_stream(self.encode_request(messages, tools))
        except openai.APIStatusError as err:
            raise classify_status(err, self.config) from err
        except openai.APIConnectionError as err:
            raise ModelError(
                f"cannot reach {self.config.base_url}: {err}", kind="connection", retryable=True
            ) from err
        try:
            await self._drain(stream, merger, emit)
        finally:
            await stream.close()
        if merger.finish_reason is None:
            raise ModelError(
                "the stream ended without a finish_reason (cut short)",
                kind="cut",
                retryable=True,
            )
        return merger.result()

    def encode_request(self, messages: list[dict], tools: list[dict]) -> bytes:
        """:meth:`build_request` as JSON, each message encoded once across steps."""
        fields = self.build_request([], tools)
        del fields["messages"]
        head = json.dumps(fields, ensure_ascii=False).removesuffix("}")
        return f'{head}, "messages": {self.encoded.array(messages)}}}'.encode()

    async def _open_stream(self, body: bytes) -> Any:
        """POST the body through the SDK's generic request method.

        ``chat.completions.create`` walks every message of the body through
        its TypedDict transform on every call, which made each step cost
        O(conversation) in CPU (93% of the engine's time by 300 steps). The
        body is sent as the JSON we encoded (the SDK's default Content-Type is
        JSON). Chunks come back as the decoded dicts (``cast_to=object``),
        which also skips building a model per chunk.
        """
        client = await self._ready()
        from openai import AsyncStream

        return await client.post(
            "/chat/completions",
            content=body,
            cast_to=object,
            options={"security": {"bearer_auth": True}},
            stream=True,
            stream_cls=AsyncStream[object],
        )

    async def _drain(self, stream: Any, merger: StreamMerger, emit: Emit) -> None:
        import openai

        chunks = stream.__aiter__()
        idle = self.config.idle_timeout
        while True:
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
                # cancel that races a chunk's arrival, and Esc must always win.
                async with asyncio.timeout(idle):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except TimeoutError as err:
                raise ModelError(
                    f"the stream was silent for {idle:g} s", kind="idle", retryable=True
                ) from err
            except openai.APIStatusError as err:
                raise classify_status(err, self.config) from err
            except Exception as err:  # any broken stream is a retryable failure
                raise ModelError(
                    f"the stream broke: {type(err).__name__}: {err}",
                    kind="stream",
                    retryable=True,
                ) from err
            try:
                events = merger.feed(chunk)
            except (AttributeError, TypeError, ValueError) as err:
                raise ModelError(
                    f"the stream sent a chunk of the wrong shape: {str(chunk)[:200]}",
                    kind="stream",
                    retryable=True,
                ) from err
            for event in events:
                emit(event)
