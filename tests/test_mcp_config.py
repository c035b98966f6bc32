"""MCP configuration: [mcp.servers.NAME], .mcp.json and its approval, schema sanitising,
result text, and `kimitui mcp list`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import mcp.types as types
import pytest

from kimitui.cli import main
from kimitui.config import ConfigError, read_config_file
from kimitui.demo.validate import check_tool_schemas
from kimitui.mcp.approval import approve, is_approved
from kimitui.mcp.config import McpConfigError, ServerConfig, expand
from kimitui.mcp.results import render
from kimitui.mcp.schema import sanitise, tool_name
from kimitui.mcp.setup import servers_for

# -- schema sanitising (a table) ---------------------------------------------------------

SANITISED: list[tuple[str, Any, dict[str, Any]]] = [
    ("not a dict", None, {"type": "object", "properties": {}}),
    ("no type at the root", {"properties": {}}, {"type": "object", "properties": {}}),
    (
        "untyped property becomes a string",
        {"type": "object", "properties": {"q": {"description": "query"}}},
        {"type": "object", "properties": {"q": {"description": "query", "type": "string"}}},
    ),
    (
        "optional X (anyOf with null) becomes X",
        {"properties": {"n": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}}},
        {"type": "object", "properties": {"n": {"type": "integer", "default": None}}},
    ),
    (
        "type list with null",
        {"properties": {"s": {"type": ["string", "null"]}}},
        {"type": "object", "properties": {"s": {"type": "string"}}},
    ),
    (
        "enum without type: typed from its values",
        {"properties": {"k": {"enum": [1, 2]}, "b": {"const": True}}},
        {
            "type": "object",
            "properties": {
                "k": {"enum": [1, 2], "type": "integer"},
                "b": {"enum": [True], "type": "boolean"},
            },
        },
    ),
    (
        "$ref resolved from $defs; unsupported keywords dropped",
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$defs": {"P": {"type": "object", "properties": {"x": {"type": "number"}}}},
            "properties": {"p": {"$ref": "#/$defs/P"}},
            "additionalProperties": False,
            "format": "whatever",
        },
        {
            "type": "object",
            "properties": {"p": {"type": "object", "properties": {"x": {"type": "number"}}}},
            "additionalProperties": False,
        },
    ),
    (
        "array without items gets string items; required trimmed to known properties",
        {"properties": {"files": {"type": "array"}}, "required": ["files", "ghost"]},
        {
            "type": "object",
            "properties": {"files": {"type": "array", "items": {"type": "string"}}},
            "required": ["files"],
        },
    ),
    (
        "nested untyped items get a type",
        {"properties": {"xs": {"items": {"properties": {"y": {}}}}}},
        {
            "type": "object",
            "properties": {
                "xs": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"y": {"type": "string"}}},
                }
            },
        },
    ),
]


@pytest.mark.parametrize(("case", "schema", "expected"), SANITISED, ids=[c[0] for c in SANITISED])
def test_schema_sanitising(case: str, schema: Any, expected: dict[str, Any]) -> None:
    clean = sanitise(schema)
    assert clean == expected
    body = {"tools": [{"type": "function", "function": {"name": "t", "parameters": clean}}]}
    assert check_tool_schemas(body) is None  # what the scripted server (like Moonshot) checks


def test_deep_schema_is_cut_not_recursed_forever() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(200):
        schema = {"properties": {"a": schema}}
    clean = sanitise(schema)
    body = {"tools": [{"type": "function", "function": {"name": "t", "parameters": clean}}]}
    assert check_tool_schemas(body) is None


def test_tool_names_are_api_safe() -> None:
    assert tool_name("git", "git_status") == "mcp__git__git_status"
    assert tool_name("x", "a.b/c d") == "mcp__x__a_b_c_d"
    assert len(tool_name("s", "t" * 100)) == 64


# -- results ---------------------------------------------------------------------------


def test_images_are_described_not_pasted() -> None:
    data = "A" * 4000  # 3000 bytes of base64
    result = types.CallToolResult(
        content=[
            types.TextContent(text="a chart:"),
            types.ImageContent(data=data, mime_type="image/png"),
        ],
        structured_content={"points": [1, 2]},
    )
    text = render(result)
    assert text.startswith("a chart:\n[image: image/png, 3,000 bytes; not shown to the model]")
    assert data not in text
    assert '"points"' in text


# -- config ------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_config_toml_servers(tmp_path: Path) -> None:
    path = write(
        tmp_path / "config.toml",
        """
[model]
name = "m"

[mcp.servers.git]
command = "uvx"
args = ["mcp-server-git"]
env = { GITHUB_TOKEN = "$GITHUB_TOKEN" }
allow = ["git_add"]
timeout = 5

[mcp.servers.web]
url = "http://127.0.0.1:9/mcp"
headers = { Authorization = "Bearer ${TOKEN}" }
enabled = false
""",
    )
    values = read_config_file(path)
    git, web = values["mcp_servers"]
    assert (git.name, git.command, git.args, git.allow, git.timeout) == (
        "git", "uvx", ("mcp-server-git",), ("git_add",), 5.0,
    )  # fmt: skip
    assert git.env == {"GITHUB_TOKEN": "$GITHUB_TOKEN"} and git.transport == "stdio"
    assert web.transport == "http" and not web.enabled and values["model"] == "m"


@pytest.mark.parametrize(
    ("table", "complaint"),
    [
        ('[mcp.servers.a]\nargs = ["x"]', "either command"),
        ('[mcp.servers.a]\ncommand = "x"\nurl = "http://h"', "either command"),
        ('[mcp.servers.a]\ncommand = "x"\nport = 3', "unknown key 'port'"),
        ('[mcp.servers.a]\ncommand = "x"\ntimeout = -1', "positive number"),
        ('[mcp.servers.a]\ncommand = "x"\nenabled = "yes"', "wrong type"),
        ('[mcp.servers."a b"]\ncommand = "x"', "server name"),
        ("[mcp]\nverbose = true", "unknown setting [mcp] verbose"),
    ],
)
def test_config_errors_name_the_server_and_key(tmp_path: Path, table: str, complaint: str) -> None:
    path = write(tmp_path / "config.toml", table)
    with pytest.raises(ConfigError, match=None) as err:
        read_config_file(path)
    assert complaint in str(err.value)
    assert str(path) in str(err.value)


def test_env_values_name_variables() -> None:
    env = {"TOKEN": "abc"}
    assert expand("Bearer ${TOKEN}", env) == "Bearer abc"
    assert expand("$TOKEN", env) == "abc"
    with pytest.raises(McpConfigError, match=r"\$MISSING is not set"):
        expand("$MISSING", env)


# -- .mcp.json and its approval ---------------------------------------------------------


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "state"
    monkeypatch.setenv("KIMITUI_STATE_DIR", str(folder))
    return folder


def project_with_mcp_json(tmp_path: Path, command: str = "evil") -> Path:
    root = tmp_path / "cloned"
    root.mkdir()
    spec = {"mcpServers": {"tool": {"type": "stdio", "command": command, "args": ["-x"]}}}
    write(root / ".mcp.json", json.dumps(spec))
    return root


def test_a_cloned_repo_starts_nothing_until_approved(tmp_path: Path, state: Path) -> None:
    root = project_with_mcp_json(tmp_path)
    mine = ServerConfig("mine", command="ok")
    (before,) = servers_for([], root)
    assert not before.enabled and "kimitui mcp approve" in before.why_disabled
    approve(root)
    assert is_approved(root)
    assert [s.enabled for s in servers_for([mine], root)] == [True, True]
    assert not any(p.is_relative_to(root) for p in state.rglob("*")), "kept in the state dir"
    # Any change to the file asks again.
    write(root / ".mcp.json", (root / ".mcp.json").read_text().replace("evil", "worse"))
    assert not is_approved(root)
    assert not servers_for([], root)[0].enabled


def test_config_toml_wins_over_the_project_file(tmp_path: Path, state: Path) -> None:
    root = project_with_mcp_json(tmp_path)
    approve(root)
    mine = ServerConfig("tool", command="mine")
    assert [s.command for s in servers_for([mine], root)] == ["mine"]


def test_a_broken_project_file_is_reported(tmp_path: Path, state: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    write(root / ".mcp.json", "{not json")
    (bad,) = servers_for([], root)
    assert not bad.enabled and "cannot read" in bad.why_disabled


def test_mcp_approve_command(tmp_path: Path, state: Path, capsys: pytest.CaptureFixture) -> None:
    root = project_with_mcp_json(tmp_path)
    assert main(["mcp", "approve", str(root), "--yes"]) == 0
    assert "tool: evil -x" in capsys.readouterr().out
    assert is_approved(root)


# -- kimitui mcp list --------------------------------------------------------------------


def test_mcp_list(
    tmp_path: Path, state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    server = Path(__file__).with_name("mcp_servers.py")
    config = write(
        tmp_path / "config.toml",
        f"""
[mcp.servers.test]
command = {json.dumps(sys.executable)}
args = [{json.dumps(str(server))}, "ok", "list-test"]
allow = ["write_note"]
timeout = 60

[mcp.servers.broken]
command = {json.dumps(sys.executable)}
args = [{json.dumps(str(server))}, "crash", "list-test"]
timeout = 60
""",
    )
    monkeypatch.setenv("KIMITUI_CONFIG", str(config))
    root = project_with_mcp_json(tmp_path)
    assert main(["mcp", "list", str(root), "--json"]) == 0
    rows = {row["server"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["test"]["status"] == "ready"
    tools = {t["name"]: t for t in rows["test"]["tools"]}
    assert tools["shout"]["read_only"] and not tools["write_note"]["read_only"]
    assert tools["write_note"]["allowed"] and tools["shout"]["exposed"] == "mcp__test__shout"
    assert rows["broken"]["status"] == "failed" and "crashing" in rows["broken"]["error"]
    assert rows["tool"]["status"] == "disabled" and rows["tool"]["source"] == ".mcp.json"
    assert main(["mcp", "list", str(root)]) == 0
    text = capsys.readouterr().out
    assert "test ✓ ready · 7 tools" in text
    assert "write_note" in text and "allowed: runs" in text
    assert "shout" in text and "read-only: runs" in text
