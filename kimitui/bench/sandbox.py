"""The sandbox's start-up cost per run: `true` confined minus `true` bare.

The policy is built the way run_tests builds it (the protected-path walk of a
small project included), so the number is what each run_tests call pays.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

from kimitui.bench.harness import Config
from kimitui.bench.report import Row, Target
from kimitui.sandbox import Policy, Sandbox, detect, scan_protected

TARGET_MS = 50.0


def sandbox_case(cfg: Config) -> list[Row]:
    runs = cfg.size(30, 5)
    with tempfile.TemporaryDirectory(prefix="kimitui-bench-") as tmp:
        root = _project(Path(tmp))
        bare = _median_ms(root, "none", runs, cfg.repeat)
        rows = []
        for mechanism in ("bwrap", "landlock"):
            row = Row(
                f"sandbox start-up per run ({mechanism})", "ms", target=Target("<=", TARGET_MS)
            )
            if detect(mechanism).name != mechanism:
                row.note = f"n/a ({detect(mechanism).detail})"
            else:
                for confined in _samples_ms(root, mechanism, runs, cfg.repeat):
                    row.add(confined - bare)
            rows.append(row)
    return rows


def _project(tmp: Path) -> Path:
    root = tmp / "proj"
    for i in range(50):
        (root / f"pkg{i % 5}").mkdir(parents=True, exist_ok=True)
        (root / f"pkg{i % 5}" / f"m{i}.py").write_text("x = 1\n")
    (root / ".git").mkdir()
    (root / ".env").write_text("TOKEN=abcdefgh12345\n")
    return root


def _samples_ms(root: Path, mechanism: str, runs: int, repeat: int) -> list[float]:
    return [_median_one(root, mechanism, runs) for _ in range(repeat)]


def _median_ms(root: Path, mechanism: str, runs: int, repeat: int) -> float:
    samples = _samples_ms(root, mechanism, runs, repeat)
    return sorted(samples)[len(samples) // 2]


def _median_one(root: Path, mechanism: str, runs: int) -> float:
    true = shutil.which("true") or "/bin/true"
    sandbox = Sandbox(mechanism=mechanism)

    async def timed() -> float:
        start = time.perf_counter()
        protected = scan_protected(root, lambda rel: rel.startswith(".env"), lambda rel: False)
        await sandbox.run([true], Policy(root=root, protected=protected), 30)
        return 1000.0 * (time.perf_counter() - start)

    async def many() -> list[float]:
        return [await timed() for _ in range(runs)]

    samples = sorted(asyncio.run(many()))
    return samples[len(samples) // 2]
