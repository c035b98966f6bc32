"""Streaming chat-completions client for Kimi and other OpenAI-compatible endpoints.

The official SDK does the HTTP; this module owns everything Kimi does
differently (see shared/KIMI_API.md): how requests are shaped, how streamed
deltas merge, where usage hides, and which failures deserve a retry. The
SDK's own retries are off so that the policy lives in one place.

Nothing a server sends can crash the session or make kimitui hold unbounded
memory: a field of the wrong type is a retryable ModelError, and one answer is
held to MAX_ANSWER_CHARS, MAX_ARGUMENT_CHARS per tool call, MAX_CALLS_KEPT calls
and MAX_EVENT_BYTES per server-sent event on the wire.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib
import json
import logging
import random
import reprlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

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
from kimitui.core.jsonsafe import encode
from kimitui.core.redact import display_url

log = logging.getLogger(__name__)

INTERNATIONAL_URL = "https://api.moonshot.ai/v1"
CHINA_URL = "https://api.moonshot.cn/v1"
NEVER_RETRY = {400, 401, 403, 404, 422}

Emit = Callable[[Event], None]
# (seconds to wait, why) -> wait? A TUI asks the user; None keeps waiting silently.
ConfirmWait = Callable[[float, str], Awaitable[bool]]
LONG_WAIT_S = 60.0
MAX_RETRY_AFTER_S = 3600.0

# What a server can make kimitui hold from one answer. Real answers stay far below:
# a long thinking step is ~100,000 characters, a big write_file ~200,000.
MAX_ANSWER_CHARS = 4_000_000  # thinking, text and tool arguments together
MAX_ARGUMENT_CHARS = 1_000_000  # one tool call's arguments; past it the call is not run
MAX_CALLS_KEPT = 256  # tool calls kept from one answer; the rest are dropped, and said so
# One server-sent event (or a whole non-streamed body) on the wire: a real chunk is a
# few hundred bytes; this bounds what the SDK buffers before it can parse anything.
MAX_EVENT_BYTES = 8 * 1024 * 1024
# A server's error text quoted in a message: enough to read, never a flood.
MAX_QUOTED_CHARS = 600
_quote = reprlib.Repr()
_quote.maxlevel, _quote.maxstring, _quote.maxother = 4, 160, 160


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
    index: int  # the server's index while streaming; once complete, its position from 0
    id: str = ""
    name: str = ""
    arguments: str = ""
    # Characters of arguments the server sent past MAX_ARGUMENT_CHARS: not kept, not run.
    oversized: int = 0


@dataclass
class Completion:
    reasoning: str = ""
    content: str = ""
    tool_calls: list[ToolCallDraft] = field(default_factory=list)
    finish_reason: str | None = None
    usage: TokenUsage | None = None
    dropped_calls: int = 0  # tool calls past MAX_CALLS_KEPT, not kept at all

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
    if isinstance(obj, dict):
        return obj
    dump = getattr(obj, "model_dump", None)
    return dump() if callable(dump) else {}


def _count(value: Any) -> int:
    """A token count as the server sent it; anything that is not a sane number is 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    if value != value or value < 0:  # NaN, negative
        return 0
    return int(min(value, 2**53))


def read_usage(raw: Any) -> tuple[int, int, int, int | None]:
    """(prompt, completion, cached, reasoning-or-None) from either placement's shape."""
    data = _as_dict(raw)
    details = data.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    cached = data.get("cached_tokens") or details.get("cached_tokens") or 0
    out = data.get("completion_tokens_details")
    reasoning = out.get("reasoning_tokens") if isinstance(out, dict) else None
    return (
        _count(data.get("prompt_tokens")),
        _count(data.get("completion_tokens")),
        _count(cached),
        None if reasoning is None else _count(reasoning),
    )


MIN_CONTEXT_WINDOW = 1_024
MAX_CONTEXT_WINDOW = 100_000_000


def parse_context_length(value: Any) -> int | None:
    """A server's ``context_length`` as a number of tokens, or None when it is not one."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if MIN_CONTEXT_WINDOW <= value <= MAX_CONTEXT_WINDOW else None


def _describe(err: BaseException) -> str:
    """An exception in one short line, however big or deep what it quotes."""
    if isinstance(err, RecursionError):
        return "JSON nested too deeply to read"
    return _clip(f"{type(err).__name__}: {err}")


def _malformed(what: str, value: Any) -> ModelError:
    return ModelError(
        f"the server sent a malformed chunk: {what} is {type(value).__name__} "
        f"{_quote.repr(value)}, not what the chat-completions format allows",
        kind="malformed",
        retryable=True,
    )


def _text(container: dict[str, Any], key: str, where: str) -> str:
    """A text field that may be missing or null, but is a string when present."""
    value = container.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _malformed(f"{where}.{key}", value)
    return value


class TextBuffer:
    """Streamed text as few large strings: a list of 4-character pieces costs ~60 bytes
    a piece, 15 times the text, which a long answer turns into hundreds of megabytes."""

    JOIN_EVERY = 4096

    def __init__(self) -> None:
        self._blocks: list[str] = []  # each the join of JOIN_EVERY pieces, never re-copied
        self._parts: list[str] = []
        self.chars = 0

    def append(self, piece: str) -> None:
        self._parts.append(piece)
        self.chars += len(piece)
        if len(self._parts) >= self.JOIN_EVERY:
            self._blocks.append("".join(self._parts))
            self._parts.clear()

    def text(self) -> str:
        return "".join(self._blocks) + "".join(self._parts)


class StreamMerger:
    """Folds chat.completion.chunk dicts (as decoded from the SSE) into one Completion.

    Tool calls merge by ``index`` because parallel calls interleave and an
    arguments fragment may arrive before the fragment that names its call.
    Whatever the server sends, what is kept is bounded: MAX_ANSWER_CHARS in all,
    MAX_ARGUMENT_CHARS per call, MAX_CALLS_KEPT calls. A field of the wrong type
    is a retryable ModelError, never a crash later on.
    """

    def __init__(self) -> None:
        self._reasoning = TextBuffer()
        self._content = TextBuffer()
        self._calls: dict[int, ToolCallDraft] = {}
        # Arguments arrive in thousands of pieces for a big write_file: joined once at the end.
        self._arguments: dict[int, TextBuffer] = {}
        self.dropped_calls = 0
        self._received = 0  # every character of text the server sent, kept or not
        self.finish_reason: str | None = None
        self._usage: Any = None

    @property
    def reasoning(self) -> str:
        return self._reasoning.text()

    @property
    def content(self) -> str:
        return self._content.text()

    def feed(self, chunk: Any) -> list[Event]:
        if not isinstance(chunk, dict):
            raise _malformed("a chunk", chunk)
        if chunk.get("usage") is not None:
            self._usage = chunk["usage"]
        choices = chunk.get("choices") or []
        if not isinstance(choices, list):
            raise _malformed("choices", choices)
        events: list[Event] = []
        for choice in choices:
            if not isinstance(choice, dict):
                raise _malformed("a choice", choice)
            events.extend(self._feed_delta(choice.get("delta")))
            finish = _text(choice, "finish_reason", "choice")
            if finish:
                self.finish_reason = finish
            if choice.get("usage") is not None:  # Kimi's placement
                self._usage = choice["usage"]
        return events

    def _take(self, chars: int) -> None:
        """Count text received; past MAX_ANSWER_CHARS the answer is abandoned."""
        self._received += chars
        if self._received > MAX_ANSWER_CHARS:
            raise ModelError(
                f"the answer passed kimitui's limit of {MAX_ANSWER_CHARS:,} characters "
                "(thinking, text and tool arguments together), so it was not read further. "
                "A model that runs away like this is not retried (every character is billed); "
                "ask again, perhaps for smaller steps",
                kind="too_large",
            )

    def _feed_delta(self, delta: Any) -> list[Event]:
        if not delta:
            return []
        if not isinstance(delta, dict):
            raise _malformed("delta", delta)
        events: list[Event] = []
        thinking = _text(delta, "reasoning_content", "delta") or _text(delta, "reasoning", "delta")
        if thinking:
            self._take(len(thinking))
            self._reasoning.append(thinking)
            events.append(ReasoningDelta(thinking))
        content = _text(delta, "content", "delta")
        if content:
            self._take(len(content))
            self._content.append(content)
            events.append(ContentDelta(content))
        frags = delta.get("tool_calls") or []
        if not isinstance(frags, list):
            raise _malformed("delta.tool_calls", frags)
        for frag in frags:
            events.extend(self._feed_call(frag))
        return events

    def _call_index(self, frag: dict[str, Any]) -> int:
        index = frag.get("index")
        if index is None:
            return len(self._calls)
        if isinstance(index, bool) or not isinstance(index, (int, float)) or index != index:
            raise _malformed("tool_calls[].index", index)
        return int(min(max(index, -(2**31)), 2**31))

    def _feed_call(self, frag: Any) -> list[Event]:
        if not isinstance(frag, dict):
            raise _malformed("a tool_calls fragment", frag)
        fn = frag.get("function") or {}
        if not isinstance(fn, dict):
            raise _malformed("tool_calls[].function", fn)
        call_id = _text(frag, "id", "tool_calls[]")
        name = _text(fn, "name", "tool_calls[].function")
        piece = _text(fn, "arguments", "tool_calls[].function")
        self._take(len(call_id) + len(name) + len(piece))
        index = self._call_index(frag)
        draft = self._calls.get(index)
        if draft is None:
            if len(self._calls) >= MAX_CALLS_KEPT:
                # Counted once per call: the fragment that names it carries its name.
                self.dropped_calls += 1 if name else 0
                return []
            draft = self._calls[index] = ToolCallDraft(index=index)
        if call_id:
            draft.id = call_id
        if name:
            draft.name = name
        if piece:
            self._add_arguments(draft, piece)
        if not draft.name:
            return []
        return [ToolCallDelta(index, draft.name, self._argument_chars(draft))]

    def _add_arguments(self, draft: ToolCallDraft, piece: str) -> None:
        buffer = self._arguments.setdefault(draft.index, TextBuffer())
        if draft.oversized or buffer.chars + len(piece) > MAX_ARGUMENT_CHARS:
            # Never kept: the call is answered with an error instead of being run.
            draft.oversized = (draft.oversized or buffer.chars) + len(piece)
            self._arguments[draft.index] = TextBuffer()
            return
        buffer.append(piece)

    def _argument_chars(self, draft: ToolCallDraft) -> int:
        if draft.oversized:
            return draft.oversized
        buffer = self._arguments.get(draft.index)
        return buffer.chars if buffer else 0

    def result(self) -> Completion:
        calls = [self._calls[i] for i in sorted(self._calls)]
        for position, call in enumerate(calls):
            buffer = self._arguments.get(call.index)
            # An oversized call goes back to the server as called with {}; its answer says why.
            call.arguments = "{}" if call.oversized else (buffer.text() if buffer else "")
            call.index = position  # the server's indexes may be sparse or negative
        return Completion(
            reasoning=self.reasoning,
            content=self.content,
            tool_calls=calls,
            finish_reason=self.finish_reason,
            usage=self._token_usage(calls),
            dropped_calls=self.dropped_calls,
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


def _clip(text: str) -> str:
    """A server's text as quoted in a message: one paragraph, never a flood."""
    flat = " ".join(text.split())
    if len(flat) <= MAX_QUOTED_CHARS:
        return flat
    return f"{flat[:MAX_QUOTED_CHARS]}… ({len(flat):,} characters in all)"


def _error_body(err: openai.APIStatusError) -> tuple[str, str]:
    body = err.body if isinstance(err.body, dict) else {}
    inner = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
    message = inner.get("message") if isinstance(inner.get("message"), str) else ""
    if not message:
        raw = err.body
        message = raw if isinstance(raw, str) and raw else (_quote.repr(raw) if raw else "")
        message = message or err.message
    etype = inner.get("type") if isinstance(inner.get("type"), str) else ""
    return _clip(str(message)), _clip(etype)


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        # "nan" or "1e308" from a broken server must not reach asyncio.sleep.
        return min(max(seconds, 0.0), MAX_RETRY_AFTER_S) if seconds == seconds else None
    try:
        left = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(left, 0.0), MAX_RETRY_AFTER_S)


def classify_status(err: openai.APIStatusError, config: ClientConfig) -> ModelError:
    """Turn an HTTP error into a message that says what to do next."""
    status = err.status_code
    message, etype = _error_body(err)
    base = display_url(config.base_url)
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


def split_query(url: str) -> tuple[str, dict[str, str]]:
    """(the URL without its query, the query's parameters)."""
    base, _, query = url.partition("?")
    return base, dict(parse_qsl(query.partition("#")[0], keep_blank_values=True))


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
            from openai import AsyncOpenAI, DefaultAsyncHttpxClient

            timeout = self.config.idle_timeout + 5.0
            base_url, query = split_query(self.config.base_url)
            self._sdk = AsyncOpenAI(
                api_key=self.config.api_key or "unset",
                base_url=base_url,
                # A base URL's own query (?api-version=..., ?api_key=...) goes on every
                # request: glued to the base, the SDK would put the paths after it.
                default_query=query or None,
                max_retries=0,
                timeout=timeout,
                # The SDK's own client with its defaults, plus a bound on what it buffers.
                http_client=DefaultAsyncHttpxClient(
                    timeout=timeout, event_hooks={"response": [bound_response]}
                ),
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

    async def context_window(self, warn: Callable[[str], None] | None = None) -> int | None:
        """The model's window from ``GET /models``, when the endpoint says.

        An endpoint without ``/models`` is normal (None, silently); an answer that
        cannot be used is reported through ``warn`` and also gives None, so the
        caller keeps its default.
        """
        client = await self._ready()
        import openai

        try:
            page = await asyncio.wait_for(client.models.list(), timeout=5.0)
            length = next(
                (_extra(m, "context_length") for m in page.data if m.id == self.config.model),
                None,
            )
        except (openai.OpenAIError, TimeoutError):
            return None
        except Exception as err:  # a broken or hostile body: say so, never a traceback
            log.debug("GET /models failed", exc_info=True)
            if warn is not None:
                warn(f"GET /models sent an answer kimitui cannot read ({_describe(err)})")
            return None
        if length is None:
            return None
        window = parse_context_length(length)
        if window is None and warn is not None:
            warn(
                f"GET /models gives {self.config.model} a context_length of "
                f"{_quote.repr(length)}, which is not a whole number of tokens between "
                f"{MIN_CONTEXT_WINDOW:,} and {MAX_CONTEXT_WINDOW:,}"
            )
        return window

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
        except ResponseTooLarge as err:  # an error body of megabytes
            raise ModelError(str(err), kind="too_large") from err
        except openai.APIStatusError as err:
            raise classify_status(err, self.config) from err
        except openai.APIConnectionError as err:
            raise ModelError(
                f"cannot reach {display_url(self.config.base_url)}: {err}",
                kind="connection",
                retryable=True,
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
        # Any string survives, lone surrogates from non-UTF-8 file names included.
        return encode(f'{head}, "messages": {self.encoded.array(messages)}}}')

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
            except ResponseTooLarge as err:
                raise ModelError(str(err), kind="too_large") from err
            except Exception as err:  # any broken stream is a retryable failure
                raise ModelError(
                    f"the stream broke: {_describe(err)}", kind="stream", retryable=True
                ) from err
            try:
                events = merger.feed(chunk)
            except (AttributeError, TypeError, ValueError) as err:
                raise ModelError(
                    f"the stream sent a chunk of the wrong shape: {_quote.repr(chunk)}",
                    kind="stream",
                    retryable=True,
                ) from err
            for event in events:
                emit(event)


class ResponseTooLarge(Exception):
    """One server-sent event, or a whole plain body, passed MAX_EVENT_BYTES."""


async def bound_response(response: Any) -> None:
    """An httpx response hook: the body is read through :func:`_bounded`.

    The SDK buffers a whole SSE event (or a whole error body) before parsing it,
    with no limit of its own; a server could make it hold gigabytes.
    """
    sse = response.headers.get("content-type", "").startswith("text/event-stream")
    response.stream = _bounded_stream(response.stream, sse)


def _bounded_stream(stream: Any, sse: bool) -> Any:
    import httpx2

    class Bounded(httpx2.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for chunk in _bounded(stream, sse):
                yield chunk

        async def aclose(self) -> None:
            await stream.aclose()

    return Bounded()


async def _bounded(stream: AsyncIterator[bytes], sse: bool) -> AsyncIterator[bytes]:
    """The chunks of ``stream``, raising ResponseTooLarge once one event passes the limit."""
    since = 0  # bytes since the last event boundary (a blank line), or of the whole body
    tail = b""
    async for chunk in stream:
        if sse:
            window = tail + chunk
            cut = max(window.rfind(b"\n\n"), window.rfind(b"\r\n\r\n"), window.rfind(b"\r\r"))
            since = len(window) - cut if cut >= 0 else since + len(chunk)
            tail = window[-3:]
        else:
            since += len(chunk)
        if since > MAX_EVENT_BYTES:
            what = "one server-sent event" if sse else "the response body"
            raise ResponseTooLarge(
                f"the server sent more than {MAX_EVENT_BYTES // 2**20} MB in {what}, "
                "far beyond any real answer; it was not read further"
            )
        yield chunk
