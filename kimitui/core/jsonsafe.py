"""JSON that any Python string survives, and JSON parsing with a depth bound.

File names come from the disk decoded with ``surrogateescape``, so a name that
is not valid UTF-8 reaches the conversation as a string holding lone
surrogates (``"bad\\udcff.py"``). Strict UTF-8 cannot encode those; JSON can,
as the escape ``\\udcff``, which ``json.loads`` reads back as the very same
string. Everything kimitui writes as JSON (transcripts, requests, JSONL
output) goes through here, so no write fails and nothing is lost.

A server decides what JSON it sends; nesting deep enough to exhaust the
interpreter's recursion limit is refused with a clear error instead.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Deeper than any real tool call or chunk (they nest 2-5 levels); shallow enough
# that serialising the value again, inside a record, stays far from the recursion limit.
MAX_JSON_DEPTH = 64

_SURROGATE = re.compile("[\ud800-\udfff]")


class TooDeep(ValueError):
    """JSON nested deeper than :data:`MAX_JSON_DEPTH`."""


def escape_surrogates(text: str) -> str:
    r"""Lone surrogates as ``\udcff`` escapes: valid inside a JSON string, printable elsewhere."""
    if text.isascii():
        return text
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def encode(json_text: str) -> bytes:
    r"""UTF-8 bytes of JSON text; a lone surrogate (only ever inside a string) becomes ``\udcff``.

    One pass in C: ``backslashreplace`` writes exactly the JSON escape of the code point.
    """
    return json_text.encode("utf-8", "backslashreplace")


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps(value, ensure_ascii=False)`` that always encodes to UTF-8."""
    return escape_surrogates(json.dumps(value, ensure_ascii=False, **kwargs))


def depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """How deeply ``value`` nests lists and dicts, counting stops past ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def loads(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that raises :class:`TooDeep` (a ValueError) for nesting past ``max_depth``."""
    try:
        value = json.loads(text, strict=False)
    except RecursionError as err:
        raise TooDeep(f"JSON nested deeper than {max_depth} levels") from err
    if depth(value, max_depth) > max_depth:
        raise TooDeep(f"JSON nested deeper than {max_depth} levels")
    return value
