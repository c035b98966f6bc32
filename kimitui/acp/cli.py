"""``kimitui acp [PROJECT]``: speak the Agent Client Protocol on stdin/stdout.

An editor (Zed, a JetBrains IDE, a Neovim plugin) starts this process and
drives it. stdout carries nothing but JSON-RPC: the protocol writes to a
private copy of it, and everything else (prints, child programs, warnings)
lands on stderr; logs go to ``<state dir>/logs/acp.log``. The process ends
when the editor closes stdin.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from kimitui.cli import (
    EXIT_USAGE,
    UsageError,
    _api_key,
    _check_folder,
    _Parser,
    add_budget_flags,
    copy_demo,
    settings_from_flags,
)

log = logging.getLogger("kimitui.acp")
EXIT_SIGNALLED = 130  # as headless runs report Ctrl+C or SIGTERM


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="kimitui acp",
        description="Speak the Agent Client Protocol (ACP) on stdio, for editors such as Zed. "
        "Every edit, unconfined command and MCP call is asked of the editor first.",
    )
    p.add_argument(
        "project",
        nargs="?",
        default=None,
        metavar="PROJECT",
        help="the only folder sessions may work in (default: each session's cwd)",
    )
    p.add_argument("--model", help="model id (default kimi-k2.7-code; env KIMITUI_MODEL)")
    p.add_argument("--base-url", dest="base_url", help="OpenAI-compatible endpoint")
    p.add_argument(
        "--api-key-env",
        dest="api_key_env",
        metavar="VAR",
        help="env var holding the API key (default MOONSHOT_API_KEY)",
    )
    add_budget_flags(p)
    p.add_argument(
        "--demo",
        action="store_true",
        help="offline: the scripted model and the sample project (copied into PROJECT when "
        "it is missing or empty; a PROJECT with files in it is used as it is)",
    )
    p.set_defaults(approve=None, theme=None)  # flags of the TUI that ACP does not take
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv[1:])
    try:
        options = prepare(args)
    except UsageError as err:
        from kimitui.core.safetext import safe

        print(f"kimitui acp: {safe(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    from kimitui.acp.stdio import take_stdio
    from kimitui.core.safetext import safe

    fds = take_stdio()  # before anything else can write to fd 1
    said = [f"speaking ACP on stdio; log in {setup_logging()}"]
    if options.demo:
        said.append(f"demo project {options.project}")
    for line in said:  # paths: shown, never obeyed as terminal controls
        print(f"kimitui acp: {safe(line)}", file=sys.stderr, flush=True)
    return asyncio.run(serve(options, fds))


def prepare(args: argparse.Namespace):  # -> Options (the import is deferred)
    from kimitui.acp.session import Options

    settings = settings_from_flags(args)
    key = _api_key(args, settings.api_key_env)
    if args.demo:
        project = _demo_project(args.project)
        return Options(settings, key, project, demo=True, any_cwd=not args.project)
    project = None
    if args.project:
        _check_folder(Path(args.project))
        project = Path(args.project).resolve()
    return Options(settings, key, project)


def _demo_project(given: str | None) -> Path:
    if given and Path(given).is_dir() and any(Path(given).iterdir()):
        return Path(given).resolve()  # an earlier demo's folder, e.g. to load its sessions
    return copy_demo(given)


def setup_logging() -> str:
    """Log to the state dir; stderr when that cannot be written."""
    from kimitui.core.statedir import FILE_MODE, make_private_dirs, state_dir

    folder = state_dir() / "logs"
    path = folder / "acp.log"
    try:
        make_private_dirs(folder)
        path.touch(mode=FILE_MODE, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
        where = str(path)
    except OSError:
        handler, where = logging.StreamHandler(sys.stderr), "stderr"
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return where


async def serve(options, fds) -> int:
    """Answer the client until it closes stdin (0), or a signal ends the process (130)."""
    from acp import run_agent

    from kimitui.acp.agent import KimiAgent
    from kimitui.acp.stdio import protocol_streams

    agent = KimiAgent(options)
    writer, reader = await protocol_streams(fds)
    loop = asyncio.get_running_loop()
    signalled = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # An editor may end its agent with SIGTERM: sessions still close cleanly
        # (their programs and MCP servers end, their transcripts are closed).
        loop.add_signal_handler(sig, signalled.set)
    listening = asyncio.create_task(run_agent(agent, writer, reader), name="acp-listen")
    waiting = asyncio.create_task(signalled.wait(), name="acp-signals")
    try:
        await asyncio.wait({listening, waiting}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (listening, waiting):
            task.cancel()
        await asyncio.gather(listening, waiting, return_exceptions=True)
        await agent.aclose()
    log.info("signal: done" if signalled.is_set() else "stdin closed: done")
    return EXIT_SIGNALLED if signalled.is_set() else 0
