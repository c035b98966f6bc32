"""A tool call's result as text for the model: text and structured content kept,
images and audio described (never pasted: base64 would burn the context)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import mcp.types as types


def render(result: types.CallToolResult) -> str:
    parts = [_block(block) for block in result.content]
    texts = [b.text for b in result.content if isinstance(b, types.TextContent)]
    # Servers built on the SDK wrap a plain return value as {"result": value}, beside the text.
    echoed = result.structured_content in ({"result": "\n".join(texts)}, {"result": texts})
    if result.structured_content is not None and not echoed:
        text = json.dumps(result.structured_content, ensure_ascii=False, indent=1, default=str)
        # Servers often send the same JSON as text too; once is enough.
        if text not in parts and _compact(result.structured_content) not in parts:
            parts.append(f"structured content:\n{text}")
    return "\n".join(p for p in parts if p) or "(the tool returned nothing)"


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _block(block: Any) -> str:
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent | types.AudioContent):
        kind = "image" if isinstance(block, types.ImageContent) else "audio"
        return f"[{kind}: {block.mime_type}, {_size(block.data)}; not shown to the model]"
    if isinstance(block, types.EmbeddedResource):
        res = block.resource
        if isinstance(res, types.TextResourceContents):
            return f"[resource {res.uri}]\n{res.text}"
        mime = getattr(res, "mime_type", None) or "binary"
        return f"[resource {res.uri}: {mime}, {_size(getattr(res, 'blob', ''))}; not shown]"
    if isinstance(block, types.ResourceLink):
        return f"[resource link {block.uri}: {block.name}]"
    return f"[{getattr(block, 'type', 'unknown')} content not shown]"


def _size(data: str) -> str:
    try:
        size = len(base64.b64decode(data, validate=False))
    except (binascii.Error, ValueError):
        size = len(data)
    return f"{size:,} bytes"
