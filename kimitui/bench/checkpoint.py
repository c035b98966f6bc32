"""Checkpoint cost: a snapshot of a 10,000-file project into the shadow store.

The first snapshot hashes every file; the ones after it only restat them (the
shadow index keeps their stat data), which is what each edit or command pays
when it is the first change of its step. One file changes between snapshots,
as it would between two steps. The mode scan runs beside ``git add`` as in a
real checkpoint.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from kimitui.bench.harness import Config
from kimitui.bench.report import Row, Target
from kimitui.core.checkpoints import Checkpoints

TARGET_MS = 100.0


def checkpoint_case(cfg: Config) -> list[Row]:
    files = cfg.size(10_000, 500)
    snapshots = cfg.size(10, 3)
    first = Row(f"checkpoint: first snapshot, {files:,} files", "ms")
    later = Row(
        f"checkpoint: snapshot after the first, {files:,} files",
        "ms",
        target=Target("<=", TARGET_MS),
    )
    undo = Row(f"checkpoint: undo one step, {files:,} files", "ms")
    for _ in range(cfg.repeat):
        with tempfile.TemporaryDirectory(prefix="kimitui-bench-ckpt-") as tmp:
            root = _project(Path(tmp), files)
            store = Checkpoints(root, "bench", base=Path(tmp) / "state")
            first.add(_timed(store, 0))
            samples = []
            for step in range(1, snapshots + 1):
                (root / "pkg0" / "m0.py").write_text(f"x = {step}\n")
                samples.append(_timed(store, step))
            later.add(sorted(samples)[len(samples) // 2])
            store.mark_after()
            started = time.perf_counter()
            store.undo()
            undo.add((time.perf_counter() - started) * 1000)
    return [first, later, undo]


def _timed(store: Checkpoints, step: int) -> float:
    store.step = step
    started = time.perf_counter()
    store.take()
    return (time.perf_counter() - started) * 1000


def _project(tmp: Path, files: int) -> Path:
    root = tmp / "proj"
    per_folder = 100
    for i in range(files):
        folder = root / f"pkg{i // per_folder}"
        if i % per_folder == 0:
            folder.mkdir(parents=True)
        (folder / f"m{i % per_folder}.py").write_text(f"value = {i}\n" * 10)
    (root / ".gitignore").write_text("build/\n")
    return root
