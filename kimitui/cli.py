"""Command line: flags + config -> a front end.

Imports stay lazy so that ``--help`` and ``--version`` never load the SDK or
Textual.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from kimitui import __version__

if TYPE_CHECKING:
    from kimitui.config import Settings
    from kimitui.core.transcript import Transcript

EXIT_USAGE = 2
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE, as the shell reports `yes | head`
PICK = ":pick"  # --resume with no ID
# Set by `kimitui serve --demo`, which copies the sample once for every browser session.
DEMO_PROJECT_ENV = "KIMITUI_DEMO_PROJECT"


class UsageError(Exception):
    """Bad flags, config or project: exit 2 with the message."""


class _Parser(argparse.ArgumentParser):
    """argparse, with "--max-steps: ..." rather than "argument --max-steps: ..."."""

    def error(self, message: str) -> NoReturn:
        super().error(message.removeprefix("argument "))


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="kimitui",
        description="A terminal pair-programmer: a Kimi coding model works on PROJECT "
        "through tools, and every file change waits for your approval.",
        epilog="Saved sessions: `kimitui sessions [PROJECT]` lists them, "
        "`kimitui export ID [--format md|json]` prints one. "
        "`kimitui doctor` shows the sandbox and what this machine gives. "
        "`kimitui undo [--to STEP] [--list]` restores a checkpoint. "
        "`kimitui mcp list` shows the MCP servers and their tools. "
        "`kimitui acp [PROJECT]` speaks the Agent Client Protocol for editors. "
        "`kimitui serve [PROJECT] [--port N]` opens the TUI in a browser (loopback only "
        "unless --public).",
    )
    p.add_argument(
        "project",
        nargs="?",
        default=None,
        metavar="PROJECT",
        help="project folder (default: the current folder)",
    )
    p.add_argument("--task", help="first instruction (required with --headless)")
    p.add_argument("--model", help="model id (default kimi-k2.7-code; env KIMITUI_MODEL)")
    p.add_argument(
        "--base-url",
        dest="base_url",
        help="OpenAI-compatible endpoint (default https://api.moonshot.ai/v1; "
        "env KIMITUI_BASE_URL)",
    )
    p.add_argument(
        "--api-key-env",
        dest="api_key_env",
        metavar="VAR",
        help="env var holding the API key (default MOONSHOT_API_KEY)",
    )
    add_budget_flags(p)
    p.add_argument(
        "--approve",
        choices=["ask", "auto", "never"],
        help="edits: ask each time (TUI default), apply all, or reject all (headless default)",
    )
    p.add_argument("--headless", action="store_true", help="no TUI: one line per event")
    p.add_argument("--json", action="store_true", help="with --headless: JSONL events")
    p.add_argument(
        "--demo", action="store_true", help="offline: scripted model server and a sample project"
    )
    p.add_argument("--theme", help="TUI theme name")
    p.add_argument(
        "--resume",
        nargs="?",
        const=PICK,
        metavar="ID|last",
        help="continue a saved session; without ID, choose from a list (headless: the last)",
    )
    p.add_argument("--version", action="version", version=f"kimitui {__version__}")
    return p


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    # NaN and infinity are no budget either.
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


# The settings flags a front end hands on as given (serve passes them to every page).
SETTING_FLAGS = (
    "model",
    "base_url",
    "api_key_env",
    "max_steps",
    "token_budget",
    "time_budget",
    "idle_timeout",
    "approve",
    "theme",
)


def add_budget_flags(p: argparse.ArgumentParser, note: str | None = None) -> None:
    """The budget flags, typed and checked alike in the main CLI and its subcommands.

    ``note`` is added to each flag's help (serve: "per session").
    """

    def helped(text: str) -> str:
        return f"{text}; {note}" if note else text

    p.add_argument(
        "--max-steps",
        dest="max_steps",
        type=_positive_int,
        metavar="N",
        help=helped("model calls allowed (default 25)"),
    )
    p.add_argument(
        "--token-budget",
        dest="token_budget",
        type=_positive_int,
        metavar="N",
        help=helped("cap on total billed tokens"),
    )
    p.add_argument(
        "--time-budget",
        dest="time_budget",
        type=_positive_float,
        metavar="SECONDS",
        help=helped("wall-clock cap"),
    )
    p.add_argument(
        "--idle-timeout",
        dest="idle_timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="a stream silent this long is a failure (default 90)",
    )


def settings_from_flags(args: argparse.Namespace) -> Settings:
    """The config with the flags given on top; a broken config is a usage error."""
    from kimitui.config import ConfigError, load_settings

    given = {name: getattr(args, name) for name in SETTING_FLAGS if getattr(args, name) is not None}
    try:
        return load_settings(given)
    except ConfigError as err:
        raise UsageError(str(err)) from err


def _prepare_project(args: argparse.Namespace, resumed: Transcript | None) -> Path:
    if resumed is not None and not args.project:
        # A resumed session works where it started; --demo must not copy the sample again.
        args.project = resumed.project
    if args.demo and resumed is None:
        if args.project and _copied_by_serve(Path(args.project)):
            return Path(args.project).resolve()
        return copy_demo(args.project)
    project = Path(args.project or ".")
    _check_folder(project)
    return project.resolve()


def copy_demo(given: str | None, prefix: str = "kimitui-demo-") -> Path:
    """The sample project copied into ``given`` (missing or empty) or a fresh temp dir."""
    from kimitui.demo import copy_sample

    target = Path(given) if given else Path(tempfile.mkdtemp(prefix=prefix))
    try:
        copy_sample(target)
    except ValueError as err:
        raise UsageError(str(err)) from err
    return target.resolve()


def _copied_by_serve(target: Path) -> bool:
    """`kimitui serve --demo` copied the sample here already; a reloaded page reuses it."""
    copied = os.environ.get(DEMO_PROJECT_ENV)
    return bool(copied) and target.is_dir() and str(target.resolve()) == copied


def _check_folder(project: Path) -> None:
    if not project.exists():
        raise UsageError(f"project folder {project} does not exist")
    if not project.is_dir():
        raise UsageError(f"project {project} is not a folder")


def _check_project_early(args: argparse.Namespace) -> None:
    """A missing folder is said before anything else (a key, a session list) is asked for.

    The demo copies its sample into PROJECT later, so a missing one is fine there.
    """
    if args.project and not args.demo:
        _check_folder(Path(args.project))


def _api_key(args: argparse.Namespace, key_env: str) -> str:
    if args.demo:
        return "demo"
    key = os.environ.get(key_env, "").strip()
    if not key:
        raise UsageError(
            f"no API key: set {key_env} (export {key_env}=sk-...), or name another "
            "variable with --api-key-env; try --demo to run offline without a key"
        )
    return key


def _check_flags(args: argparse.Namespace, approve: str) -> None:
    if args.json and not args.headless:
        raise UsageError("--json needs --headless")
    if not args.headless:
        if not (sys.stdin.isatty() and sys.stdout.isatty()) and not _in_browser():
            raise UsageError(
                "the TUI needs a terminal; for scripts and pipes run with --headless "
                "(e.g. kimitui --demo --headless --approve auto)"
            )
        return  # the TUI takes its task from the composer when --task is absent
    if approve == "ask":
        raise UsageError("--approve ask needs the TUI; headless runs take auto or never")
    if not args.task and not args.demo and not args.resume:
        raise UsageError("--headless needs --task TEXT (or --resume)")


def _in_browser() -> bool:
    """Started by textual-serve (`kimitui serve`): Textual talks to the page over the pipes."""
    return os.environ.get("TEXTUAL_DRIVER", "").startswith("textual.drivers.web_driver:")


# Each subcommand's module has `main(argv) -> int`; imported only when used.
SUBCOMMANDS = {
    "sessions": "kimitui.session_cmds",
    "export": "kimitui.session_cmds",
    "undo": "kimitui.undo_cmd",
    "mcp": "kimitui.mcp_cmd",
    "doctor": "kimitui.doctor",
    "acp": "kimitui.acp.cli",
    "serve": "kimitui.serve_cmd",
    "compare": "kimitui.compare.cli",
}


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader of stdout went away (`kimitui sessions | head -1`): end quietly,
        # as a command killed by SIGPIPE would.
        _silence_stdout()
        return EXIT_PIPE_CLOSED


def _silence_stdout() -> None:
    """Python flushes stdout again at exit; a closed pipe would print a traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Subcommands come before the parser: PROJECT is positional and would swallow them.
    if argv and argv[0] in SUBCOMMANDS:
        import importlib

        return importlib.import_module(SUBCOMMANDS[argv[0]]).main(argv)
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except UsageError as err:
        from kimitui.core.safetext import safe

        # It may name a path or a saved session's project: shown, never obeyed.
        print(f"kimitui: {safe(str(err))}", file=sys.stderr)
        return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    settings = settings_from_flags(args)
    approve = args.approve or ("ask" if not args.headless else "never")
    _check_flags(args, approve)
    _check_project_early(args)
    if args.resume == PICK:
        _api_key(args, settings.api_key_env)  # said before the list, not after a choice
        args.resume = "last" if args.headless else _pick_session(args, settings)
        if args.resume is None:
            return 0
    resumed = _find_resumed(args, settings) if args.resume else None
    key = _api_key(args, settings.api_key_env)
    project = _prepare_project(args, resumed)
    import asyncio

    if args.headless:
        from kimitui.launch import launch_headless

        return asyncio.run(launch_headless(settings, project, args, key, approve, resumed))
    from kimitui.launch import launch_tui

    return asyncio.run(launch_tui(settings, project, args, key, approve, resumed))


def _resume_scope(args: argparse.Namespace) -> Path | None:
    # Without PROJECT: this folder's sessions (with --demo: every demo session,
    # wherever its temp folder is).
    return Path(args.project) if args.project else (None if args.demo else Path("."))


def _pick_session(args: argparse.Namespace, settings: Settings) -> str | None:
    """The id the user chose in the session picker; None if they left it."""
    from kimitui.core.catalog import summaries
    from kimitui.tui.picker import pick_session

    scope = _resume_scope(args)
    found, _ = summaries(scope, demo=args.demo)
    where = scope.resolve() if scope else "the demo"
    if not found:
        raise UsageError(f"no saved session for {where} to resume; see `kimitui sessions`")
    return pick_session(found, where, settings.theme)


def _find_resumed(args: argparse.Namespace, settings: Settings) -> Transcript:
    """The session --resume names; its model and endpoint win unless given as flags."""
    from kimitui.core.catalog import find_session
    from kimitui.core.resume import needs_model
    from kimitui.core.transcript import SessionError, load_transcript

    # An id is unique everywhere; `last` is the newest in the scope.
    scope = _resume_scope(args) if args.resume == "last" else None
    try:
        resumed = load_transcript(find_session(args.resume, project=scope, demo=args.demo))
    except SessionError as err:
        raise UsageError(str(err)) from err
    if args.project and Path(args.project).resolve() != Path(resumed.project):
        raise UsageError(f"session {resumed.id} belongs to {resumed.project}, not {args.project}")
    if args.headless and not args.task and not needs_model(resumed.messages):
        raise UsageError(
            f"session {resumed.id} already ended ({resumed.ended}); "
            "give --task to continue the conversation"
        )
    settings.model = args.model or resumed.model or settings.model
    if not args.demo and not args.base_url and resumed.base_url:
        settings.base_url = resumed.base_url
    return resumed
