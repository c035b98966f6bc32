"""MCP server definitions: ``[mcp.servers.NAME]`` in config.toml and a project's ``.mcp.json``.

A definition is either a program (``command``, ``args``, ``env``, ``cwd``),
started in the sandbox, or a streamable-HTTP endpoint (``url``, ``headers``).
Values in ``env`` and ``headers`` may name the user's environment variables
(``"$GITHUB_TOKEN"`` or ``"${GITHUB_TOKEN}"``); they are filled in at start.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 10.0  # seconds a server has to start and list its tools
DEFAULT_CALL_TIMEOUT = 120.0  # seconds one tool call may take
PROJECT_FILE = ".mcp.json"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")

_KEYS: dict[str, type | tuple[type, ...]] = {
    "command": str,
    "args": list,
    "env": dict,
    "cwd": str,
    "url": str,
    "headers": dict,
    "enabled": bool,
    "timeout": (int, float),
    "tool_timeout": (int, float),
    "allow": list,
    "network": bool,
}


class McpConfigError(Exception):
    """A server definition is wrong; the message names which and where."""


@dataclass(frozen=True)
class ServerConfig:
    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None  # relative to the project; must stay inside it
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    enabled: bool = True
    timeout: float = DEFAULT_TIMEOUT
    tool_timeout: float = DEFAULT_CALL_TIMEOUT
    allow: tuple[str, ...] = ()  # tools that run without asking
    network: bool | None = None  # None: the [sandbox] network setting
    source: str = "config.toml"
    why_disabled: str = ""  # shown as the server's error when it does not start

    @property
    def transport(self) -> str:
        return "http" if self.url else "stdio"


def parse_server(name: str, table: Any, source: str) -> ServerConfig:
    """One server's table, checked: every problem names the server and the key."""
    where = f"{source}: [mcp.servers.{name}]"
    if not _NAME.match(name):
        raise McpConfigError(f"{where}: a server name is 1-32 letters, digits, '_' or '-'")
    if not isinstance(table, dict):
        raise McpConfigError(f"{where} must be a table")
    for key, value in table.items():
        expected = _KEYS.get(key)
        if expected is None:
            raise McpConfigError(f"{where}: unknown key {key!r}; known: {', '.join(_KEYS)}")
        if not isinstance(value, expected) or isinstance(value, bool) is not (expected is bool):
            raise McpConfigError(f"{where}: {key} has the wrong type ({value!r})")
    for key in ("args", "allow"):
        if not all(isinstance(v, str) for v in table.get(key, [])):
            raise McpConfigError(f"{where}: {key} must be a list of strings")
    for key in ("env", "headers"):
        if not all(isinstance(v, str) for v in table.get(key, {}).values()):
            raise McpConfigError(f"{where}: {key} values must be strings")
    if bool(table.get("command")) == bool(table.get("url")):
        raise McpConfigError(f"{where}: give either command (a program) or url (HTTP), not both")
    for key in ("timeout", "tool_timeout"):
        if key in table and not 0 < table[key] < float("inf"):
            raise McpConfigError(f"{where}: {key} must be a positive number of seconds")
    return ServerConfig(
        name=name,
        command=table.get("command"),
        args=tuple(table.get("args", ())),
        env=dict(table.get("env", {})),
        cwd=table.get("cwd"),
        url=table.get("url"),
        headers=dict(table.get("headers", {})),
        enabled=table.get("enabled", True),
        timeout=float(table.get("timeout", DEFAULT_TIMEOUT)),
        tool_timeout=float(table.get("tool_timeout", DEFAULT_CALL_TIMEOUT)),
        allow=tuple(table.get("allow", ())),
        network=table.get("network"),
        source=source,
    )


def parse_servers(section: Any, source: str) -> list[ServerConfig]:
    """The ``[mcp]`` section of config.toml: only ``servers`` lives there."""
    if not isinstance(section, dict):
        raise McpConfigError(f"{source}: 'mcp' must be a [table]")
    unknown = set(section) - {"servers"}
    if unknown:
        raise McpConfigError(f"{source}: unknown setting [mcp] {sorted(unknown)[0]}")
    servers = section.get("servers", {})
    if not isinstance(servers, dict):
        raise McpConfigError(f"{source}: [mcp.servers] must hold [mcp.servers.NAME] tables")
    return [parse_server(name, table, source) for name, table in servers.items()]


def read_project_file(path: Path) -> list[ServerConfig]:
    """A project's ``.mcp.json`` (``{"mcpServers": {NAME: {...}}}``, the shape other tools use)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise McpConfigError(f"cannot read {path}: {err}") from err
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        raise McpConfigError(f'{path}: expected {{"mcpServers": {{NAME: {{...}}}}}}')
    found = []
    for name, table in servers.items():
        if isinstance(table, dict):
            # Other tools mark the transport with "type"; kimitui tells it by url/command.
            table = {k: v for k, v in table.items() if k != "type"}
        found.append(parse_server(str(name), table, PROJECT_FILE))
    return found


def expand(value: str, environ: Mapping[str, str] | None = None) -> str:
    """``$VAR`` / ``${VAR}`` filled from the user's environment; a missing one is an error."""
    environ = os.environ if environ is None else environ

    def fill(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in environ:
            raise McpConfigError(f"${name} is not set in kimitui's environment")
        return environ[name]

    return _VAR.sub(fill, value)


def expand_all(values: Mapping[str, str], environ: Mapping[str, str] | None = None) -> dict:
    return {key: expand(value, environ) for key, value in values.items()}
