"""Starts a run: the demo server when asked, the Agent, and a front end."""

from __future__ import annotations

import argparse
import sys
from contextlib import AsyncExitStack
from pathlib import Path

from kimitui.config import Settings
from kimitui.core.gate import gate_for
from kimitui.headless import run_headless
from kimitui.wiring import Endpoint, build_agent


async def demo_endpoint(stack: AsyncExitStack, *, tokens_per_second: float | None) -> Endpoint:
    """Start the scripted model server on loopback for the lifetime of ``stack``."""
    from kimitui.demo.refactor import demo_turns
    from kimitui.demo.server import ScriptedServer

    server = ScriptedServer(demo_turns(), tokens_per_second=tokens_per_second)
    await stack.enter_async_context(server)
    return Endpoint(base_url=server.base_url, api_key="demo")


async def launch_headless(
    settings: Settings, project: Path, args: argparse.Namespace, api_key: str, approve: str
) -> int:
    async with AsyncExitStack() as stack:
        if args.demo:
            from kimitui.demo import DEMO_TASK

            endpoint = await demo_endpoint(stack, tokens_per_second=None)
            task = args.task or DEMO_TASK
            out = sys.stderr if args.json else sys.stdout
            print(f"demo project: {project}", file=out, flush=True)
        else:
            endpoint = Endpoint(base_url=settings.base_url, api_key=api_key)
            task = args.task
        agent = build_agent(settings, project, endpoint, gate_for(approve))
        return await run_headless(agent, task, json_mode=args.json)


# The TUI's demo streams at a human pace so that it looks alive.
TUI_DEMO_TOKENS_PER_SECOND = 150.0


async def launch_tui(
    settings: Settings, project: Path, args: argparse.Namespace, api_key: str, approve: str
) -> int:
    from kimitui.tui.app import KimiApp
    from kimitui.tui.approval import approval_for

    approval = approval_for(approve)
    notices: list[tuple[str, str]] = []
    if approval.notice:
        notices.append(("warning", approval.notice))
    async with AsyncExitStack() as stack:
        if args.demo:
            from kimitui.demo import DEMO_TASK

            endpoint = await demo_endpoint(stack, tokens_per_second=TUI_DEMO_TOKENS_PER_SECOND)
            task = args.task or DEMO_TASK
            notices.append(("info", f"demo: the sample project is in {project}"))
        else:
            endpoint = Endpoint(base_url=settings.base_url, api_key=api_key)
            task = args.task
        agent = build_agent(settings, project, endpoint, approval.gate)
        app = KimiApp(
            agent,
            task=task,
            approval_label=approval.label,
            notices=notices,
            theme_name=settings.theme,
        )
        try:
            await app.run_async()
        finally:
            await agent.client.close()
        return app.return_code or 0
