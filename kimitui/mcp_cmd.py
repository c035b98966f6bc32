"""`kimitui mcp list [--json]` and `kimitui mcp approve`: the MCP servers a session gets.

``list`` connects to every enabled server (each up to its timeout, stdio ones in
the sandbox with the project read-only), prints its status and its tools with
what the gate does with each, and stops them all again.
``approve`` lets the project's ``.mcp.json`` start its servers from now on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from kimitui.config import ConfigError, load_settings
from kimitui.core.safetext import json_safe, safe
from kimitui.mcp.config import PROJECT_FILE, McpConfigError, ServerConfig, read_project_file

EXIT_USAGE = 2


def mcp_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kimitui mcp", description="MCP servers: list them, or approve a project's."
    )
    sub = p.add_subparsers(dest="action", required=True)
    listing = sub.add_parser(
        "list", help="each server, its status and tools (connects, with a timeout)"
    )
    listing.add_argument("project", nargs="?", default=".", metavar="PROJECT")
    listing.add_argument("--json", action="store_true", help="JSON instead of text")
    approve = sub.add_parser("approve", help="let this project's .mcp.json start its servers")
    approve.add_argument("project", nargs="?", default=".", metavar="PROJECT")
    approve.add_argument("--yes", action="store_true", help="approve without asking")
    return p


def main(argv: list[str]) -> int:
    args = mcp_parser().parse_args(argv[1:])
    project = Path(args.project)
    if not project.is_dir():
        print(f"kimitui mcp: project folder {project} does not exist", file=sys.stderr)
        return EXIT_USAGE
    if args.action == "approve":
        return _approve(project.resolve(), args.yes)
    try:
        settings = load_settings({})
    except ConfigError as err:
        print(f"kimitui mcp: {err}", file=sys.stderr)
        return EXIT_USAGE
    rows = asyncio.run(list_servers(settings, project.resolve()))
    # Names, errors and tool names come from the servers: no control sequence reaches the terminal.
    if args.json:
        print(json_safe(json.dumps(rows, indent=2, ensure_ascii=False)))
    else:
        print(safe(format_rows(rows)))
    return 0


async def list_servers(settings: Any, project: Path) -> list[dict[str, Any]]:
    """Every server a session in ``project`` would get, connected once and stopped again."""
    from kimitui.core.gate import NeverGate
    from kimitui.mcp.setup import build_hub, servers_for
    from kimitui.sandbox import Sandbox
    from kimitui.tools import Workspace

    servers = servers_for(settings.mcp_servers, project)
    if not servers:
        return []
    workspace = Workspace(project, deny_read=settings.deny_read, deny_write=settings.deny_write)
    sandbox = Sandbox(
        mechanism=settings.sandbox_mechanism,
        network=settings.sandbox_network,
        pass_env=settings.sandbox_pass_env,
    )
    # Listing changes nothing: the servers see the project read-only, as under `never`.
    hub = build_hub(servers, workspace, sandbox, NeverGate(), api_key_env=settings.api_key_env)
    try:
        await hub.wait_ready()
        return [_row(run) for run in hub.runs]
    finally:
        await hub.aclose()


def _row(run: Any) -> dict[str, Any]:
    cfg: ServerConfig = run.config
    where = cfg.url or " ".join([cfg.command or "", *cfg.args])
    return {
        "server": cfg.name,
        "source": cfg.source,
        "transport": cfg.transport,
        "target": where,
        "status": run.status,
        "error": run.error,
        "tools": [
            {
                "name": tool.name,
                "exposed": tool.exposed,
                "read_only": tool.read_only,
                "allowed": tool.name in cfg.allow,
            }
            for tool in run.tools
        ],
    }


def _gate_word(tool: dict[str, Any]) -> str:
    if tool["read_only"]:
        return "read-only: runs"
    return "allowed: runs (never: refused)" if tool["allowed"] else "asks first (never: refused)"


def format_rows(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no MCP servers configured: add [mcp.servers.NAME] to the kimitui config"
    lines = []
    for row in rows:
        mark = {"ready": "✓", "disabled": "-"}.get(row["status"], "✗")
        count = f" · {len(row['tools'])} tools" if row["status"] == "ready" else ""
        error = f" · {row['error']}" if row["error"] else ""
        lines.append(
            f"{row['server']} {mark} {row['status']}{count}{error}  "
            f"[{row['transport']}: {row['target']}; from {row['source']}]"
        )
        width = max((len(t["name"]) for t in row["tools"]), default=0)
        lines += [f"  {t['name']:<{width}}  {_gate_word(t)}" for t in row["tools"]]
    return "\n".join(lines)


def _approve(project: Path, yes: bool) -> int:
    from kimitui.mcp.approval import approve, is_approved

    path = project / PROJECT_FILE
    try:
        servers = read_project_file(path)
    except McpConfigError as err:
        print(f"kimitui mcp: {err}", file=sys.stderr)
        return EXIT_USAGE
    if is_approved(project):
        print(f"{path} is already approved as it is")
        return 0
    print(f"{path} would start, in the sandbox, each time kimitui opens this project:")
    for s in servers:
        print(f"  {s.name}: {s.url or ' '.join([s.command or '', *s.args])}")
    if not yes:
        if not sys.stdin.isatty():
            print("kimitui mcp: not a terminal; add --yes to approve", file=sys.stderr)
            return EXIT_USAGE
        if input("Approve this file? [y/N] ").strip().lower() not in ("y", "yes"):
            print("not approved")
            return 1
    digest = approve(project)
    print(f"approved ({digest[:12]}); a change to the file asks again")
    return 0
