"""Offline demo: a scripted model server and a sample project for it to refactor.

`ScriptedServer` lives in `kimitui.demo.server` (it pulls in aiohttp); this
package root stays light so the CLI can ask for the task and the sample cheaply.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from kimitui.demo.refactor import DEMO_TASK, demo_turns

__all__ = ["DEMO_TASK", "copy_sample", "demo_turns", "sample_files"]


def sample_files() -> dict[str, bytes]:
    """The sample project's files by name, as shipped in the package."""
    folder = resources.files("kimitui.demo").joinpath("sample")
    return {entry.name: entry.read_bytes() for entry in folder.iterdir() if _is_sample(entry)}


def _is_sample(entry: Traversable) -> bool:
    # Running the sample's tests in place leaves caches behind; never ship those.
    return entry.is_file() and not entry.name.endswith((".pyc", ".pyo"))


def copy_sample(dest: Path) -> None:
    """Copy the sample project into `dest`, which must be missing or empty."""
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise ValueError(f"{dest} is not a folder; the demo needs a missing or empty folder")
    if dest.is_dir() and any(dest.iterdir()):
        raise ValueError(
            f"{dest} is not empty; the demo copies its sample project only into a missing "
            "or empty folder, so nothing of yours is overwritten"
        )
    dest.mkdir(parents=True, exist_ok=True)
    for name, data in sample_files().items():
        (dest / name).write_bytes(data)
