"""Process start costs: ``kimitui --version`` / ``--help``, and the TUI's first frame."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kimitui.bench.harness import BenchError, Config, kimitui_argv
from kimitui.bench.ptyapp import PtyApp, app_env
from kimitui.bench.report import Row, Target

HEAVY = ("textual", "openai", "aiohttp")
IMPORT_CHECK = (
    "import sys\n"
    "from kimitui.cli import main\n"
    "try:\n    main([{flag!r}])\nexcept SystemExit:\n    pass\n"
    "print(sorted({{m.split('.')[0] for m in sys.modules}} & {heavy!r}), file=sys.stderr)\n"
)


def cli_case(cfg: Config) -> list[Row]:
    rows = []
    for flag in ("--version", "--help"):
        heavy = _heavy_imports(flag)
        row = Row(f"kimitui {flag}", "ms", target=Target("<=", 150))
        if heavy:
            row.note = f"imports {', '.join(heavy)} (must not)"
        for _ in range(max(cfg.repeat, 5)):
            row.add(_timed_run([*kimitui_argv(), flag]))
        rows.append(row)
    return rows


def _timed_run(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True, timeout=30, env=app_env())
    return 1000.0 * (time.perf_counter() - start)


def _heavy_imports(flag: str) -> list[str]:
    code = IMPORT_CHECK.format(flag=flag, heavy=set(HEAVY))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env=app_env()
    )
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "[]"
    return [name.strip(" '") for name in last.strip("[]").split(",") if name.strip(" '")]


def first_frame_case(cfg: Config) -> list[Row]:
    row = Row("TUI start → first frame (--demo)", "s", target=Target("<=", 1.0))
    for _ in range(cfg.repeat):
        row.add(_first_frame())
    return [row]


def _first_frame() -> float:
    with tempfile.TemporaryDirectory(prefix="kimitui-bench-") as tmp:
        project = Path(tmp) / "demo"
        app = PtyApp([*kimitui_argv(), "--demo", str(project)], app_env())
        with app:
            # The border titles are set on mount, so they arrive with the first full frame.
            at = app.watch("transcript").wait(30)
            if at is None:
                raise BenchError("the demo's first frame never arrived")
            return at - app.started
