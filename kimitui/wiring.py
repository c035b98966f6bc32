"""Builds an Agent from Settings; shared by the TUI and the headless front end."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from kimitui.config import Settings, config_path
from kimitui.core import events as ev
from kimitui.core.allowstore import load_allowed
from kimitui.core.budget import DEFAULT_CONTEXT_WINDOW, Budget, Limits, Prices
from kimitui.core.checkpoints import Checkpoints
from kimitui.core.gate import Gate
from kimitui.core.instructions import load_instructions
from kimitui.core.llm import ClientConfig, ModelClient
from kimitui.core.loop import SYSTEM_PROMPT, Agent
from kimitui.core.prices import known_prices
from kimitui.mcp.setup import build_hub, servers_for
from kimitui.sandbox import Sandbox
from kimitui.tools import Toolbox, Workspace
from kimitui.tools.commands import CommandPolicy


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    api_key: str


def new_session_id() -> str:
    return uuid.uuid4().hex[:16]


def build_budget(settings: Settings) -> Budget:
    return Budget(
        limits=Limits(
            max_steps=settings.max_steps,
            token_budget=settings.token_budget,
            time_budget=settings.time_budget,
            cost_budget=settings.cost_budget,
        ),
        prices=build_prices(settings),
        context_window=settings.context_window or DEFAULT_CONTEXT_WINDOW,
    )


def build_prices(settings: Settings) -> Prices:
    """``[prices]`` when set, else the known list price of the model, else unknown."""
    configured = Prices(
        input=settings.price_input,
        cached_input=settings.price_cached_input,
        output=settings.price_output,
        currency=settings.currency,
        source="[prices] in config.toml",
    )
    if settings.price_input is not None or settings.price_output is not None:
        return configured
    return known_prices(settings.model) or Prices(currency=settings.currency)


def build_agent(
    settings: Settings,
    project: Path,
    endpoint: Endpoint,
    gate: Gate,
    *,
    session_id: str | None = None,
) -> Agent:
    workspace = Workspace(
        project,
        deny_read=settings.deny_read,
        deny_write=settings.deny_write,
        allow_read=settings.allow_read,
    )
    sandbox = Sandbox(
        mechanism=settings.sandbox_mechanism,
        network=settings.sandbox_network,
        pass_env=settings.sandbox_pass_env,
    )
    servers = servers_for(settings.mcp_servers, workspace.root)
    toolbox = Toolbox(
        workspace,
        test_command=settings.test_command,
        test_timeout=settings.test_timeout,
        api_key_env=settings.api_key_env,
        sandbox=sandbox,
        test_args=settings.test_args,
        read_only=gate.read_only,
        approve_run=gate.review_run,
        command_policy=CommandPolicy.from_config(
            [*settings.command_allow, *load_allowed(workspace.root)], settings.command_deny
        ),
        command_timeout=settings.command_timeout,
        extra=build_hub(servers, workspace, sandbox, gate, api_key_env=settings.api_key_env)
        if servers
        else None,
        approve_commit=getattr(gate, "review_commit", None),
    )
    client = ModelClient(
        ClientConfig(
            base_url=endpoint.base_url,
            api_key=endpoint.api_key,
            model=settings.model,
            api_key_env=settings.api_key_env,
            temperature=settings.temperature,
            thinking=settings.thinking,
            idle_timeout=settings.idle_timeout,
        ),
        session_id=session_id or new_session_id(),
    )
    # AGENTS.md & co.: after kimitui's own rules, labelled as the project's.
    instructions = load_instructions(workspace.root, config_path().parent)
    agent = Agent(
        system_prompt=instructions.system_prompt(SYSTEM_PROMPT),
        client=client,
        toolbox=toolbox,
        gate=gate,
        budget=build_budget(settings),
        project=str(workspace.root),
        # A configured window wins over what the server reports.
        context_window_from_server=settings.context_window is None,
        compact_at=settings.compact_at,
    )
    attach_commands(agent, gate)
    if notice := instructions.notice():
        agent.startup_notices.append(notice)
    if settings.git_auto_commit and toolbox.git is not None and not gate.read_only:
        agent.auto_commit = toolbox.git.auto_commit
    return agent


class CommandEvents:
    """run_command's observer: what it does, as Agent events."""

    def __init__(self, agent: Agent) -> None:
        self.emit = agent.emit

    def command(self, call_id: str, command: str, cwd: str, flags: list[str]) -> None:
        self.emit(ev.CommandProposed(call_id, command, cwd, flags))

    def output(self, call_id: str, text: str) -> None:
        self.emit(ev.CommandOutputDelta(call_id, text))

    def result(self, call_id: str, exit_code: int | None, output: str, duration_s: float) -> None:
        self.emit(ev.CommandFinished(call_id, exit_code, output, duration_s))

    def decision(self, call_id: str, cwd: str, approved: bool, feedback: str, by: str) -> None:
        verdict = "approved" if approved else "rejected"
        self.emit(ev.EditDecided(call_id, cwd, verdict, feedback=feedback, kind="command", by=by))


def attach_commands(agent: Agent, gate: Gate, *, state: Path | None = None) -> Checkpoints:
    """Command events, and checkpoints before every edit and command of the session."""
    commands = agent.toolbox.commands
    commands.observer = CommandEvents(agent)
    commands.asker = "user" if getattr(gate, "interactive", False) else "headless"
    checkpoints = Checkpoints(
        Path(agent.project), agent.client.session_id, base=state, emit=agent.emit
    )
    agent.subscribe(checkpoints.observe)
    commands.before_change = checkpoints.before_change
    commands.after_change = checkpoints.after_change
    gate.before_apply = checkpoints.before_change
    agent.toolbox.checkpoints = checkpoints
    return checkpoints
