"""MCP tool schemas made acceptable to Moonshot, and tool names made acceptable to the API.

Moonshot rejects a property without a ``type`` (``400 At path 'properties.X':
type is not defined``) and some JSON Schema keywords. A server's schema is
rewritten: every property gets a type (guessed from ``enum``/``const``/
sub-schemas, else ``string``), ``anyOf``/``oneOf`` of one real type plus
``null`` collapse to that type, ``$ref`` is resolved against ``$defs`` once,
and keywords outside a small known set are dropped.
"""

from __future__ import annotations

import re
from typing import Any

PREFIX = "mcp__"
MAX_NAME = 64  # the OpenAI tools API limit on a function name
KEEP = frozenset(
    {"type", "description", "properties", "required", "items", "enum", "default",
     "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "pattern",
     "additionalProperties", "title"}
)  # fmt: skip
TYPES = frozenset({"string", "integer", "number", "boolean", "array", "object", "null"})
MAX_DEPTH = 12
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def tool_name(server: str, tool: str) -> str:
    """``mcp__SERVER__TOOL`` with only the characters the API allows, at most 64 long."""
    name = f"{PREFIX}{server}__{_SAFE.sub('_', tool)}"
    return name[:MAX_NAME]


def sanitise(schema: Any) -> dict[str, Any]:
    """A tool's ``inputSchema`` as an object schema Moonshot accepts."""
    if not isinstance(schema, dict):
        return {"type": "object", "properties": {}}
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    clean = _node(schema, defs, 0)
    clean["type"] = "object"
    clean.setdefault("properties", {})
    return clean


def _node(node: Any, defs: dict[str, Any], depth: int) -> dict[str, Any]:
    if not isinstance(node, dict) or depth > MAX_DEPTH:
        return {"type": "string"}
    node = _resolve(node, defs)
    node = _collapse(node, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in KEEP:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {str(k): _node(v, defs, depth + 1) for k, v in value.items()}
        elif key == "items":
            out[key] = _node(value, defs, depth + 1)
        elif key == "additionalProperties":
            if isinstance(value, bool):
                out[key] = value
        elif key == "required":
            if isinstance(value, list):
                out[key] = [str(v) for v in value]
        else:
            out[key] = value
    if "const" in node and "enum" not in out:
        out["enum"] = [node["const"]]
    out["type"] = _type_of(out, node)
    if "required" in out:
        known = out.get("properties", {})
        out["required"] = [r for r in out["required"] if r in known]
    if out["type"] == "array" and "items" not in out:
        out["items"] = {"type": "string"}
    return out


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1])
        if isinstance(target, dict) and "$ref" not in target:
            return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _collapse(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``anyOf: [X, {type: null}]`` (an optional X) becomes X; other unions their first branch."""
    for key in ("anyOf", "oneOf", "allOf"):
        branches = node.get(key)
        if not isinstance(branches, list) or not branches:
            continue
        real = [
            _resolve(b, defs) for b in branches if isinstance(b, dict) and b.get("type") != "null"
        ]
        if not real:
            continue
        merged = {**real[0], **{k: v for k, v in node.items() if k not in (key, "type")}}
        return merged
    return node


def _type_of(clean: dict[str, Any], node: dict[str, Any]) -> str:
    kind = node.get("type")
    if isinstance(kind, list):  # ["string", "null"]: the first real one
        kind = next((k for k in kind if k in TYPES and k != "null"), None)
    if kind in TYPES and kind != "null":
        return str(kind)
    if "properties" in clean:
        return "object"
    if "items" in clean:
        return "array"
    values = clean.get("enum") or ([node["const"]] if "const" in node else [])
    if values:
        sample = values[0]
        if isinstance(sample, bool):
            return "boolean"
        if isinstance(sample, int):
            return "integer"
        if isinstance(sample, float):
            return "number"
    return "string"
