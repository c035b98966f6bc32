"""Starts a run: the demo server when asked, the Agent, and a front end."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import socket
import sys
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from kimitui.config import Settings
from kimitui.core.budget import Prices
from kimitui.core.events import Notice
from kimitui.core.gate import gate_for
from kimitui.core.journal import Journal
from kimitui.core.loop import Agent
from kimitui.core.resume import needs_model, untold_undos
from kimitui.core.session import resume_session, start_session
from kimitui.core.transcript import Transcript
from kimitui.headless import run_headless
from kimitui.sandbox import detect
from kimitui.wiring import Endpoint, build_agent

log = logging.getLogger(__name__)

# Paces the headless demo (tokens per second), so a test can stop it mid-run.
DEMO_TPS_ENV = "KIMITUI_DEMO_TPS"


def _headless_demo_pace() -> float | None:
    value = os.environ.get(DEMO_TPS_ENV, "")
    try:
        return float(value) if value else None
    except ValueError:
        return None


@dataclass
class Recording:
    notices: list[Notice]  # for the front end to show first
    transcript: Path | None  # None: the session is not saved
    journal: Journal


def record_session(
    stack: AsyncExitStack, agent: Agent, task: str | None, demo: bool, resumed: Transcript | None
) -> Recording:
    """Save the session as it runs (or continue a saved one), and journal its edits.

    Headless runs journal too, so a session resumed in the TUI can undo them.
    """
    journal = Journal.for_session(agent.client.session_id, agent.project)
    agent.on_edit_applied = journal.record
    if resumed is not None:
        recorder = resume_session(agent, resumed)
        checkpoints = agent.toolbox.checkpoints
        owed = untold_undos(journal, resumed, checkpoints.undo_notes if checkpoints else None)
        for note in owed:
            agent.note(note)  # delivered before the model's next step
        if owed:
            recorder.notices.append(
                Notice(f"the model will be told of {len(owed)} undo(s) made after its last step")
            )
    else:
        try:
            recorder = start_session(agent, task=task, demo=demo)
        except OSError as err:  # an unwritable state dir must not stop the work
            notice = Notice(f"this session is not saved: {err}", level="warning")
            return Recording([notice], None, journal)
    stack.callback(recorder.close)
    return Recording(recorder.notices, recorder.path, journal)


async def demo_endpoint(
    stack: AsyncExitStack, *, tokens_per_second: float | None, later: bool = False
) -> Endpoint:
    """The scripted model server on loopback for the lifetime of ``stack``.

    ``later``: the socket listens at once but serving starts in the background,
    because importing the server (aiohttp) costs ~0.3 s that the TUI's first
    frame need not wait for; a request made sooner waits in the backlog.
    """
    sock = socket.create_server(("127.0.0.1", 0))
    stack.callback(sock.close)  # also when serving never started
    port = sock.getsockname()[1]
    serving = _serve_demo(stack, sock, tokens_per_second)
    if later:
        task = asyncio.create_task(serving, name="demo-server")
        stack.push_async_callback(_cancelled, task)
    else:
        await serving
    return Endpoint(base_url=f"http://127.0.0.1:{port}/v1", api_key="demo")


async def _serve_demo(
    stack: AsyncExitStack, sock: socket.socket, tokens_per_second: float | None
) -> None:
    try:
        # On a thread: aiohttp is the costly import, and the loop keeps drawing meanwhile.
        await asyncio.to_thread(importlib.import_module, "kimitui.demo.server")
        from kimitui.demo.refactor import demo_turns
        from kimitui.demo.server import ScriptedServer

        server = ScriptedServer(demo_turns(), tokens_per_second=tokens_per_second)
        stack.push_async_callback(server.stop)
        await server.start(sock)
    except BaseException:
        sock.close()  # requests then fail at once, with a clear "cannot reach"
        raise


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:  # the run already said it could not reach the server
        log.exception("the demo server failed to start")


async def endpoint_and_task(
    stack: AsyncExitStack,
    settings: Settings,
    args: argparse.Namespace,
    api_key: str,
    resumed: Transcript | None,
    *,
    demo_pace: float | None,
    later: bool = False,
) -> tuple[Endpoint, str | None]:
    """Where the model is, and the first task (a resumed session needs none)."""
    if not args.demo:
        return Endpoint(base_url=settings.base_url, api_key=api_key), args.task
    from kimitui.demo import DEMO_TASK

    endpoint = await demo_endpoint(stack, tokens_per_second=demo_pace, later=later)
    return endpoint, args.task or (None if resumed else DEMO_TASK)


async def launch_headless(
    settings: Settings,
    project: Path,
    args: argparse.Namespace,
    api_key: str,
    approve: str,
    resumed: Transcript | None = None,
) -> int:
    async with AsyncExitStack() as stack:
        endpoint, task = await endpoint_and_task(
            stack, settings, args, api_key, resumed, demo_pace=_headless_demo_pace()
        )
        if args.demo:
            out = sys.stderr if args.json else sys.stdout
            print(f"demo project: {project}", file=out, flush=True)
        # The same session id keeps the prompt cache key, so a resume hits the cache.
        session_id = resumed.id if resumed else None
        agent = build_agent(settings, project, endpoint, gate_for(approve), session_id=session_id)
        stack.push_async_callback(agent.toolbox.aclose)  # MCP servers end with the run
        _unpriced_demo(agent, args.demo)
        recording = record_session(stack, agent, task, args.demo, resumed)
        return await run_headless(agent, task, json_mode=args.json, notices=recording.notices)


def _unpriced_demo(agent: Agent, demo: bool) -> None:
    """The demo's scripted model costs nothing: no list price, whatever its model id."""
    if demo:
        agent.budget.prices = Prices(currency=agent.budget.prices.currency)


def remember_theme(name: str) -> None:
    """A theme chosen in the TUI becomes ``[ui] theme`` in config.toml."""
    from kimitui.config import config_path, write_ui_theme

    write_ui_theme(config_path(), name)


def demo_intro(project: Path) -> str:
    """The one line a new user reads before the demo starts."""
    return (
        "demo: an offline scripted model splits the sample's app.py into modules; "
        "each edit waits for your review (y applies, n rejects, space picks hunks), "
        f"Esc interrupts. The sample is in {project}"
    )


# The TUI's demo streams at a human pace so that it looks alive.
TUI_DEMO_TOKENS_PER_SECOND = 150.0


async def launch_tui(
    settings: Settings,
    project: Path,
    args: argparse.Namespace,
    api_key: str,
    approve: str,
    resumed: Transcript | None = None,
) -> int:
    from kimitui.tui.app import KimiApp
    from kimitui.tui.approval import approval_for
    from kimitui.tui.history import earlier_events

    approval = approval_for(approve)
    # Probing the sandbox runs bwrap once (~30 ms): on a thread, beside the start-up.
    probing = asyncio.create_task(asyncio.to_thread(detect, settings.sandbox_mechanism))
    notices: list[tuple[str, str]] = []
    if approval.notice:
        notices.append(("warning", approval.notice))
    async with AsyncExitStack() as stack:
        endpoint, task = await endpoint_and_task(
            stack,
            settings,
            args,
            api_key,
            resumed,
            demo_pace=TUI_DEMO_TOKENS_PER_SECOND,
            later=True,
        )
        if args.demo:
            notices.append(("info", demo_intro(project)))
        session_id = resumed.id if resumed else None
        agent = build_agent(settings, project, endpoint, approval.gate, session_id=session_id)
        stack.push_async_callback(agent.toolbox.aclose)  # MCP servers end with the app
        await probing
        _unpriced_demo(agent, args.demo)
        recording = record_session(stack, agent, task, args.demo, resumed)
        notices.extend((n.level, n.text) for n in recording.notices)
        app = KimiApp(
            agent,
            task=task,
            approval_label=approval.label,
            notices=notices,
            theme_name=settings.theme,
            continue_run=resumed is not None and needs_model(agent.messages),
            remember_theme=remember_theme,
            transcript_path=recording.transcript,
            journal=recording.journal,
            history=earlier_events(resumed.events()) if resumed else (),
        )
        try:
            await app.run_async()
        finally:
            await agent.client.close()
        print_quit_summary(agent, recording, args.demo)
        return app.return_code or 0


def print_quit_summary(agent: Agent, recording: Recording, demo: bool) -> None:
    """Files changed, tokens, cost and the resume command, on the terminal the app gave back."""
    from kimitui.quitsummary import quit_summary, resume_command

    resume = resume_command(agent.client.session_id, recording.transcript)
    store = agent.toolbox.checkpoints
    changed = store.changed_files() if store is not None else None
    summary = quit_summary(agent.budget, recording.journal, resume, demo=demo, changed=changed)
    if summary:
        print(summary, flush=True)
