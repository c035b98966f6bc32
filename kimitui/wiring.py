"""Builds an Agent from Settings; shared by the TUI and the headless front end."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from kimitui.config import Settings, config_path
from kimitui.core.budget import DEFAULT_CONTEXT_WINDOW, Budget, Limits, Prices
from kimitui.core.gate import Gate
from kimitui.core.instructions import load_instructions
from kimitui.core.llm import ClientConfig, ModelClient
from kimitui.core.loop import SYSTEM_PROMPT, Agent
from kimitui.core.prices import known_prices
from kimitui.sandbox import Sandbox
from kimitui.tools import Toolbox, Workspace


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
    toolbox = Toolbox(
        workspace,
        test_command=settings.test_command,
        test_timeout=settings.test_timeout,
        api_key_env=settings.api_key_env,
        sandbox=Sandbox(
            mechanism=settings.sandbox_mechanism,
            network=settings.sandbox_network,
            pass_env=settings.sandbox_pass_env,
        ),
        test_args=settings.test_args,
        read_only=gate.read_only,
        approve_run=gate.review_run,
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
    if notice := instructions.notice():
        agent.startup_notices.append(notice)
    if settings.git_auto_commit and toolbox.git is not None and not gate.read_only:
        agent.auto_commit = toolbox.git.auto_commit
    return agent
