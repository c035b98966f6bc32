"""One ACP session: an engine Agent, its gate, its outbox and its saved transcript."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from acp.schema import HttpMcpServer, McpServerStdio, SseMcpServer

from kimitui.acp.gate import AcpGate, Ask
from kimitui.acp.updates import LiveUpdates, Outbox, Update, replay, usage_update
from kimitui.config import Settings
from kimitui.core import events as ev
from kimitui.core.budget import Prices, TokenUsage
from kimitui.core.events import Done
from kimitui.core.loop import Agent
from kimitui.core.transcript import Transcript
from kimitui.launch import DEMO_TPS_ENV, demo_endpoint, record_session
from kimitui.mcp.config import ServerConfig
from kimitui.wiring import Endpoint, build_agent

log = logging.getLogger(__name__)

ClientServer = HttpMcpServer | SseMcpServer | McpServerStdio | Any


@dataclass
class Options:
    """What every session of this process shares: the flags, the key, the project."""

    settings: Settings
    api_key: str
    project: Path | None  # None: each session's cwd is its project
    demo: bool = False
    any_cwd: bool = False  # --demo without PROJECT: the sample's temp folder, whatever cwd


@dataclass
class AcpSession:
    id: str
    project: Path
    agent: Agent
    gate: AcpGate
    outbox: Outbox
    stack: AsyncExitStack
    notices: list[str] = field(default_factory=list)
    steps_per_prompt: int = 25
    running: bool = False

    async def run(self, text: str) -> tuple[Done, TokenUsage]:
        """One prompt: the agent's run, and the tokens it used.

        ``--max-steps`` counts per prompt: an editor has no control to raise it,
        and "go on" after a stop must not end at once. Tokens, time and cost
        stay caps on the whole session (they are what is billed).
        """
        budget = self.agent.budget
        budget.limits.max_steps = budget.steps + self.steps_per_prompt
        before = budget.used
        self.running = True
        try:
            done = await self.agent.run(text)
        finally:
            self.running = False
            await self.outbox.flush()  # the answer never overtakes an update
        return done, _spent_since(before, self.agent.budget.used)

    def cancel(self) -> None:
        if self.running:
            self.agent.stop()

    async def replay(self, transcript: Transcript) -> None:
        self.outbox.put_all(replay(self.project, transcript.events()))
        self.outbox.put(usage_update(self.agent.budget))
        await self.outbox.flush()

    async def aclose(self) -> None:
        self.agent.stop()
        await self.outbox.aclose()
        await self.stack.aclose()


def _spent_since(before: TokenUsage, after: TokenUsage) -> TokenUsage:
    return TokenUsage(
        prompt=after.prompt - before.prompt,
        completion=after.completion - before.completion,
        reasoning=after.reasoning - before.reasoning,
        cached=after.cached - before.cached,
    )


def demo_pace() -> float | None:
    """Tokens per second of the scripted demo model (a test slows it to cancel mid-stream)."""
    try:
        return float(os.environ.get(DEMO_TPS_ENV, "")) or None
    except ValueError:
        return None


def client_servers(servers: list[ClientServer] | None, taken: set[str]) -> list[ServerConfig]:
    """The MCP servers the client offers, as kimitui server definitions.

    Names must fit kimitui's tool names (``mcp__NAME__TOOL``): other characters
    become ``_``; a name the config already uses gets a suffix. SSE is not
    offered in the capabilities, so an SSE server is skipped.
    """
    found: list[ServerConfig] = []
    for server in servers or []:
        name = _free_name(getattr(server, "name", "") or "client", taken)
        if isinstance(server, McpServerStdio):
            env = {v.name: v.value for v in server.env}
            found.append(
                ServerConfig(
                    name,
                    command=server.command,
                    args=tuple(server.args),
                    env=env,
                    source="the ACP client",
                )
            )
        elif isinstance(server, HttpMcpServer):
            headers = {h.name: h.value for h in server.headers}
            found.append(
                ServerConfig(name, url=server.url, headers=headers, source="the ACP client")
            )
        else:
            log.warning("skipped MCP server %r: its transport is not supported", name)
            continue
        taken.add(name)
    return found


def _free_name(raw: str, taken: set[str]) -> str:
    base = "".join(c if c.isalnum() or c in "_-" else "_" for c in raw)[:28] or "client"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


async def open_session(
    options: Options,
    project: Path,
    servers: list[ClientServer] | None,
    *,
    send: Callable[[str, Update], Awaitable[None]],
    ask: Callable[[str], Ask],
    resumed: Transcript | None = None,
) -> AcpSession:
    """Build the engine for one session, saved as it runs (or continuing ``resumed``)."""
    settings = options.settings
    taken = {s.name for s in settings.mcp_servers}
    extra = client_servers(servers, taken)
    settings = replace(settings, mcp_servers=[*settings.mcp_servers, *extra])
    stack = AsyncExitStack()
    try:
        endpoint = await _endpoint(stack, options)
        gate = AcpGate(project)
        agent = build_agent(
            settings, project, endpoint, gate, session_id=resumed.id if resumed else None
        )
        stack.push_async_callback(agent.client.close)
        stack.push_async_callback(agent.toolbox.aclose)  # MCP servers end with the session
        if options.demo:  # the scripted model costs nothing, whatever its model id
            agent.budget.prices = Prices(currency=agent.budget.prices.currency)
        recording = record_session(stack, agent, None, options.demo, resumed)
    except BaseException:
        await stack.aclose()
        raise
    session_id = agent.client.session_id
    outbox = Outbox(lambda update: send(session_id, update))
    gate.redact = agent.redactor.text
    gate.allow_prefix = agent.toolbox.commands.allow_for_session
    gate.workspace = agent.toolbox.workspace
    gate.show, gate.flush, gate.ask = outbox.put, outbox.flush, ask(session_id)
    agent.subscribe(gate.observe)
    agent.subscribe(LiveUpdates(project, agent.budget, outbox))
    agent.subscribe(_log_notices)
    notices = [n.text for n in recording.notices]
    if recording.transcript is None:
        notices.append("this session is not saved, so it cannot be loaded again")
    return AcpSession(session_id, project, agent, gate, outbox, stack, notices, settings.max_steps)


def _log_notices(event: ev.Event) -> None:
    """What the TUI shows in its status line goes to the log (stdout is the protocol's)."""
    if isinstance(event, ev.Notice | ev.McpStatus | ev.RetryScheduled):
        log.info("%s", event.to_dict())


async def _endpoint(stack: AsyncExitStack, options: Options) -> Endpoint:
    if not options.demo:
        return Endpoint(base_url=options.settings.base_url, api_key=options.api_key)
    # Each session has its own scripted model, so two sessions never share a script.
    return await demo_endpoint(stack, tokens_per_second=demo_pace())


async def close_all(sessions: list[AcpSession]) -> None:
    results = await asyncio.gather(*(s.aclose() for s in sessions), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            log.error("closing a session failed", exc_info=result)
