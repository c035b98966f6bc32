"""MCP in the TUI: the servers' line under the meter, and an MCP call asking at the gate."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from kimitui.core.gate import AskGate
from kimitui.demo.script import ToolCallSpec, Turn
from kimitui.tui.mcpstatus import McpCallScreen, McpStatusLine
from tests.test_mcp import START, stdio_server, tool_messages
from tests.tui_helpers import make_project, running, wait_for


async def test_status_line_and_a_refused_call_with_feedback(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    cfg, _ = stdio_server("t")
    write = ToolCallSpec("mcp__t__write_note", {"name": "note.txt", "text": "hi"})
    turns = [Turn(tool_calls=(write,)), Turn(content="Fine, no note.")]
    gate = AskGate()
    async with running(
        project, turns, gate=gate, approval_label="ask", task="note", mcp_servers=[cfg]
    ) as (app, server, pilot):
        line = app.query_one(McpStatusLine)
        await wait_for(pilot, lambda: "t ✓ 7 tools" in str(line.render()), START)
        assert line.display
        await wait_for(pilot, lambda: isinstance(app.screen, McpCallScreen), START)
        screen = app.screen
        assert isinstance(screen, McpCallScreen)
        assert screen.request.tool == "write_note" and '"note.txt"' in screen.request.arguments
        screen.key_guard.release()
        await wait_for(pilot, lambda: screen.focused is not None, 5)
        assert screen.focused is not None and screen.focused.id == "mcp-refuse"
        screen.query_one("#mcp-why", Input).focus()
        await pilot.pause()
        for key in "use the docs folder":
            await pilot.press("space" if key == " " else key)
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(server.requests) >= 2, START)
    answer = tool_messages(server.requests[1])[0]["content"]
    assert "did not let mcp__t__write_note run: use the docs folder" in answer
    assert not (project / "note.txt").exists()


async def test_no_servers_no_line(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    async with running(project, [Turn(content="hi")]) as (app, _, pilot):
        await pilot.pause()
        assert not app.query_one(McpStatusLine).display
