"""MCP servers for the tests, built with the SDK's own server side.

Run as a program: ``python tests/mcp_servers.py MODE TOKEN [PORT]``. MODE picks
a behaviour: ``ok`` (stdio), ``http`` (streamable HTTP on 127.0.0.1:PORT),
``crash`` (exits before answering), ``hang`` (never answers the handshake).
TOKEN is only there to be found in the host's /proc: a sandboxed server's own
pid is its pid inside its namespace, so tests look its host pid up by token.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

READ_ONLY = ToolAnnotations(read_only_hint=True)
WRITES = ToolAnnotations(read_only_hint=False, destructive_hint=False)


def build() -> MCPServer:
    server = MCPServer("kimitui-test")

    @server.tool(description="Echo the text back, upper-cased.", annotations=READ_ONLY)
    def shout(text: str) -> str:
        return text.upper()

    @server.tool(description="Write a note file in the current folder.", annotations=WRITES)
    def write_note(name: str, text: str) -> str:
        Path(name).write_text(text, encoding="utf-8")
        return f"wrote {len(text)} characters to {name}"

    @server.tool(description="Write a file at an absolute path.", annotations=WRITES)
    def write_anywhere(path: str, text: str) -> str:
        try:
            Path(path).write_text(text, encoding="utf-8")
        except OSError as err:
            return f"could not write: {err}"
        return "written"

    @server.tool(
        description="The server's environment, one NAME=value a line.", annotations=READ_ONLY
    )
    def env() -> str:
        return "\n".join(f"{k}={v}" for k, v in sorted(os.environ.items()))

    @server.tool(description="The client's roots, one URI a line.", annotations=READ_ONLY)
    async def roots(ctx: Context) -> str:
        found = await ctx.session.list_roots()
        return "\n".join(str(root.uri) for root in found.roots)

    @server.tool(description="Exit the server process mid-call.", annotations=READ_ONLY)
    def die() -> str:
        os._exit(3)

    @server.tool(description="Sleep for a while.", annotations=READ_ONLY)
    def nap(seconds: float) -> str:
        time.sleep(seconds)
        return "rested"

    return server


def main() -> None:
    mode = sys.argv[1]
    if mode == "crash":
        print("test server: crashing on purpose", file=sys.stderr)
        sys.exit(1)
    if mode == "hang":
        time.sleep(3600)
    server = build()
    if mode == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[3]))
    else:
        server.run()


if __name__ == "__main__":
    main()
