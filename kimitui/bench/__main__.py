"""``python -m kimitui.bench [--quick] [--case NAME ...] [--repeat N]`` or ``... tokens``."""

from __future__ import annotations

import argparse
import compileall
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import kimitui
from kimitui.bench import (
    checkpoint,
    compare,
    engine,
    review,
    sandbox,
    session,
    startup,
    streaming,
    tokens,
    tree,
)
from kimitui.bench.harness import Config
from kimitui.bench.report import Row, table
from kimitui.core.statedir import STATE_ENV

log = logging.getLogger("kimitui.bench")
Case = Callable[[Config], list[Row]]
CASES: dict[str, Case] = {
    "stream": streaming.stream_case,
    "burst": streaming.burst_case,
    "keys": streaming.keys_case,
    "session": session.session_case,
    "cli": startup.cli_case,
    "startup": startup.first_frame_case,
    "review": review.review_case,
    "tree": tree.tree_case,
    "engine": engine.engine_case,
    "tokens": tokens.token_case,
    "sandbox": sandbox.sandbox_case,
    "checkpoint": checkpoint.checkpoint_case,
    "compare": compare.compare_case,
}


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m kimitui.bench", description=__doc__)
    p.add_argument("mode", nargs="?", choices=["tokens"], help="tokens: issue 3's token table")
    p.add_argument("--quick", action="store_true", help="tiny sizes, one repetition (tests)")
    p.add_argument("--case", action="append", choices=sorted(CASES), help="run only these")
    p.add_argument("--repeat", type=int, help="repetitions per case (default 3, quick 1)")
    return p.parse_args(argv)


def run_case(name: str, cfg: Config) -> list[Row]:
    started = time.monotonic()
    try:
        rows = CASES[name](cfg)
    except Exception as err:  # one broken case must not hide the others
        log.exception("case %s failed", name)
        rows = [Row(name, "", note=f"error: {type(err).__name__}: {err}"[:120])]
    print(f"  {name}: {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return rows


def environment() -> str:
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')} · {os.cpu_count()} cores · "
        f"Python {platform.python_version()} · textual {version('textual')} · "
        f"{platform.system()} {platform.release()}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.mode == "tokens":
        print(tokens.report())
        return 0
    cfg = Config(quick=args.quick, repeat=args.repeat or (1 if args.quick else 3))
    # Agents built in this process take checkpoints: into a state dir of the bench's own.
    os.environ[STATE_ENV] = tempfile.mkdtemp(prefix="kimitui-bench-state-")
    # An installed kimitui has its bytecode compiled by pip; a source checkout run
    # with PYTHONDONTWRITEBYTECODE would recompile every module in every child.
    compileall.compile_dir(Path(kimitui.__file__).parent, quiet=1)
    names = args.case or list(CASES)
    print(f"kimitui bench · {environment()} · repeat {cfg.repeat}", file=sys.stderr)
    rows = [row for name in names for row in run_case(name, cfg)]
    print(table(rows))
    return 1 if any(row.verdict() == "ERROR" for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
