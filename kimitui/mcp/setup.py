"""Which MCP servers a session gets, and the hub that runs them.

config.toml's servers are the user's own. A project's ``.mcp.json`` comes with
the repository, so its servers stay off (reported, with how to approve them)
until the user approved that exact file for that project.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from kimitui.mcp.approval import is_approved
from kimitui.mcp.config import PROJECT_FILE, McpConfigError, ServerConfig, read_project_file
from kimitui.sandbox import Policy, Sandbox, home_secrets, scan_protected
from kimitui.sandbox.env import secret_values

if TYPE_CHECKING:
    from kimitui.core.gate import Gate
    from kimitui.mcp.hub import McpHub
    from kimitui.tools.workspace import Workspace

NOT_APPROVED = (
    "from the project's .mcp.json, which you have not approved: "
    "run `kimitui mcp approve` in the project to start its servers"
)


def servers_for(configured: Sequence[ServerConfig], project: Path) -> list[ServerConfig]:
    """config.toml's servers, then the project's (approved or reported as off)."""
    servers = list(configured)
    path = project / PROJECT_FILE
    if not path.is_file():
        return servers
    taken = {s.name for s in servers}
    try:
        found = read_project_file(path)
    except McpConfigError as err:
        bad = ServerConfig(".mcp.json", command="-", enabled=False, why_disabled=str(err))
        return [*servers, bad]
    approved = is_approved(project)
    for server in found:
        if server.name in taken:
            continue  # the user's own config.toml entry wins
        if not approved:
            server = replace(server, enabled=False, why_disabled=NOT_APPROVED)
        servers.append(server)
    return servers


def build_hub(
    servers: Sequence[ServerConfig],
    workspace: Workspace,
    sandbox: Sandbox,
    gate: Gate,
    *,
    api_key_env: str | None = None,
) -> McpHub:
    from kimitui.mcp.hub import McpHub  # the SDK: loaded only when a server is configured

    root = workspace.root

    def policy() -> Policy:
        # The same rules as run_tests: the project writable (not under never), minus
        # .git, withheld files and deny_write matches; the user's credential stores hidden.
        protected = scan_protected(root, workspace.is_secret, workspace.is_write_denied)
        hidden = tuple(p for p in home_secrets() if not root.is_relative_to(p))
        return Policy(root=root, writable=not gate.read_only, protected=protected, hidden=hidden)

    def secrets(rules: Policy) -> set[str]:
        key = os.environ.get(api_key_env or "", "")
        return secret_values(rules.protected.secrets, [key])

    hub = McpHub(
        servers,
        project=root,
        sandbox=sandbox,
        policy=policy,
        secrets=secrets,
        read_only=gate.read_only,
        approve=gate.review_mcp,
    )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return hub  # started by the first wait_ready()
    hub.start()  # in the background: the first frame never waits for a server
    return hub
