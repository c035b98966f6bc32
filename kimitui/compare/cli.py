"""`kimitui compare PROJECT --task T --model A --model B [--repeat N] [--jobs N] [--json]`.

Every run works on its own copy of PROJECT with edits auto-approved, is scored
by the project's tests, and keeps its session (resumable, exportable) and its
diff. The table goes to stdout, live progress to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from kimitui.cli import EXIT_USAGE, UsageError, _positive_int, add_budget_flags, copy_demo
from kimitui.config import ConfigError, Settings, load_settings
from kimitui.core.safetext import safe

if TYPE_CHECKING:  # the runner pulls in the engine: only when a comparison starts
    from kimitui.compare.runner import RunSpec

DEMO_MODELS = ("demo-thinker", "demo-terse")
EXIT_INTERRUPTED = 130
MAX_RUNS = 200  # a typo in --repeat must not start thousands of runs


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kimitui compare",
        description="Run one task with several models on copies of PROJECT and compare them "
        "in one table (median and min-max over repeats). Edits are applied to the copies "
        "without asking; PROJECT itself is never changed.",
        epilog="Models on other endpoints: --model NAME@PROVIDER with [providers.PROVIDER] "
        "base_url, api_key_env and prices in config.toml. Each run's session stays "
        "resumable (`kimitui --resume ID`) and exportable (`kimitui export ID`).",
    )
    p.add_argument("project", nargs="?", metavar="PROJECT", help="the project folder")
    p.add_argument("--task", help="the instruction every model gets (required unless --demo)")
    p.add_argument(
        "--model",
        dest="models",
        action="append",
        metavar="NAME[@PROVIDER]",
        help="a model to compare (repeat the flag); --demo defaults to "
        + " and ".join(DEMO_MODELS),
    )
    p.add_argument("--repeat", type=_positive_int, default=1, metavar="N", help="runs per model")
    p.add_argument(
        "--jobs", type=_positive_int, default=1, metavar="N", help="runs at the same time"
    )
    p.add_argument("--json", action="store_true", help="JSON on stdout instead of Markdown")
    p.add_argument(
        "--demo",
        action="store_true",
        help="offline: scripted models on the sample project (copied into PROJECT if given, "
        "which must be missing or empty)",
    )
    add_budget_flags(p)
    p.add_argument(
        "--out",
        metavar="DIR",
        help="where the runs' folders are kept (default: kimitui's state dir, compare/)",
    )
    return p


_BUDGET_FLAGS = ("max_steps", "token_budget", "time_budget", "idle_timeout")


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv[1:])
    try:
        return _run(args)
    except UsageError as err:
        print(f"kimitui compare: {safe(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        # The runs were cancelled; their worktrees were unregistered on the way out.
        print("kimitui compare: interrupted; no table", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    from kimitui.compare.plan import plan_runs

    flags = {k: getattr(args, k) for k in _BUDGET_FLAGS if getattr(args, k) is not None}
    try:
        settings = load_settings(flags)
    except ConfigError as err:
        raise UsageError(str(err)) from err
    if not args.demo:
        _check_project(args)  # said before any key is asked for
    models = args.models or (list(DEMO_MODELS) if args.demo else [])
    if not models:
        raise UsageError("name the models to compare: --model A --model B (or try --demo)")
    task = _task(args)
    specs = plan_runs(models, args.repeat, settings, demo=args.demo)
    if len(specs) > MAX_RUNS:
        raise UsageError(f"{len(specs)} runs is more than {MAX_RUNS}; lower --repeat")
    project = _project(args)
    out_dir = _out_dir(args)
    return asyncio.run(_compare(args, specs, project, out_dir, task, settings))


def _task(args: argparse.Namespace) -> str:
    if args.task:
        return str(args.task)
    if args.demo:
        from kimitui.demo import DEMO_TASK

        return DEMO_TASK
    raise UsageError("--task TEXT is required: the instruction every model gets")


def _project(args: argparse.Namespace) -> Path:
    if args.demo:
        target = copy_demo(args.project, prefix="kimitui-compare-demo-")
        print(f"demo project: {target}", file=sys.stderr, flush=True)
        return target
    return _check_project(args)


def _check_project(args: argparse.Namespace) -> Path:
    if not args.project:
        raise UsageError("name the PROJECT folder to compare the models on")
    project = Path(args.project)
    if not project.is_dir():
        raise UsageError(f"project folder {project} does not exist or is not a folder")
    return project.resolve()


def _out_dir(args: argparse.Namespace) -> Path:
    from kimitui.core.statedir import make_private_dirs, state_dir

    base = Path(args.out) if args.out else state_dir() / "compare"
    folder = base / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    try:
        make_private_dirs(folder)
    except OSError as err:
        raise UsageError(f"cannot create {folder} for the runs: {err}") from err
    return folder


def _demo_pace() -> float | None:
    from kimitui.launch import DEMO_TPS_ENV

    try:
        return float(os.environ.get(DEMO_TPS_ENV) or 0) or None
    except ValueError:
        return None


async def _compare(
    args: argparse.Namespace,
    specs: list[RunSpec],
    project: Path,
    out_dir: Path,
    task: str,
    settings: Settings,
) -> int:
    from kimitui.compare.progress import Progress
    from kimitui.compare.runner import Live, run_all
    from kimitui.compare.table import markdown, runs_markdown, to_json

    lives = [Live() for _ in specs]
    progress = Progress(specs, lives)
    started = time.monotonic()
    ticking = asyncio.create_task(progress.tick())
    try:
        results = await run_all(
            specs,
            project,
            out_dir,
            task,
            jobs=args.jobs,
            demo=args.demo,
            demo_pace=_demo_pace(),
            lives=lives,
            changed=progress.changed,
        )
    finally:
        ticking.cancel()
    progress.close()
    wall = time.monotonic() - started
    if args.json:
        meta = {
            "project": str(project),
            "task": task,
            "demo": args.demo,
            "jobs": args.jobs,
            "repeat": args.repeat,
            "runs_folder": str(out_dir),
            "wall_s": wall,
        }
        print(json.dumps(to_json(results, meta), ensure_ascii=True, indent=2))
    else:
        print(markdown(results, settings.currency))
        print(runs_markdown(results))
        print(f"runs kept in {safe(str(out_dir))} · {len(results)} runs in {wall:.1f} s")
    return 1 if all(r.outcome == "error" for r in results) else 0
