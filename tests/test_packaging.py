"""kimitui as `pip install .` leaves it: an installed copy, not the checkout.

The package is installed (not editable) into a fresh venv whose only other
path is this interpreter's site-packages, for the dependencies, so nothing is
downloaded but the build backend. Everything then runs from a folder outside
the checkout, so an import can only find the installed copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEFTOVERS = (".git", "build", "dist", "*.egg-info", "__pycache__", ".venv", "venv", ".ci-venv")
BUNDLED = sorted(p.stem for p in (ROOT / "themes").glob("*.toml"))

# Run inside the installed copy: where it lives, its bundled themes, and the app
# started with each of them, recording every warning it would show.
PROBE = textwrap.dedent(
    """
    import asyncio, json, sys, tempfile
    from pathlib import Path

    import kimitui
    from kimitui.config import Settings
    from kimitui.core.gate import AutoGate
    from kimitui.tui.app import KimiApp
    from kimitui.tui.themes import bundled_dir, load_themes
    from kimitui.wiring import Endpoint, build_agent

    async def start(theme):
        project = Path(tempfile.mkdtemp())
        # Nothing is sent: the app starts without a task.
        endpoint = Endpoint("http://127.0.0.1:9/v1", "unused")
        agent = build_agent(Settings(), project, endpoint, AutoGate())
        app = KimiApp(agent, theme_name=theme, watch=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            shown = app.theme
        await agent.client.close()
        return {"theme": shown, "warnings": [t for lvl, t in app.startup_notices if lvl != "info"]}

    loaded = load_themes()
    report = {
        "kimitui": kimitui.__file__,
        "bundled": str(bundled_dir()),
        "names": sorted(t.name for t in loaded.themes),
        "problems": loaded.problems,
        "runs": [asyncio.run(start(name)) for name in sys.argv[1:]],
    }
    print(json.dumps(report))
    """
)


def _dependency_paths() -> list[str]:
    paths = sysconfig.get_paths()
    return list(dict.fromkeys([paths["purelib"], paths["platlib"]]))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with kimitui installed from the checkout by `pip install .`."""
    base = tmp_path_factory.mktemp("packaging")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # Dependencies come from this interpreter's site-packages: a plain path in a
    # .pth, so that folder's own .pth files (an editable kimitui's finder) never run.
    Path(site, "kimitui-test-deps.pth").write_text("\n".join(_dependency_paths()) + "\n")
    # A copy without build/ and *.egg-info: setuptools reuses what an earlier
    # build left there, which can hide a file the wheel would now lack.
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*LEFTOVERS))
    build = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=base,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    return python


def _probe(python: Path, cwd: Path, *themes: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIMITUI", "PYTHON"))}
    env["KIMITUI_CONFIG"] = str(cwd / "no-config.toml")
    env["KIMITUI_STATE_DIR"] = str(cwd / "state")
    result = subprocess.run(
        [str(python), "-c", PROBE, *themes],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_bundled_themes_load_from_the_installed_copy(installed: Path, tmp_path: Path) -> None:
    report = _probe(installed, tmp_path, *BUNDLED)
    venv = installed.parent.parent
    assert Path(report["kimitui"]).is_relative_to(venv), "the checkout was imported"
    assert Path(report["bundled"]).is_dir() and Path(report["bundled"]).is_relative_to(venv)
    assert report["problems"] == []
    assert set(BUNDLED) <= set(report["names"])
    assert {"kimitui-dark", "kimitui-light", "kimitui-high-contrast"} <= set(BUNDLED)
    for name, run in zip(BUNDLED, report["runs"], strict=True):
        assert run == {"theme": name, "warnings": []}


def test_the_wheel_holds_every_package_and_data_file(installed: Path) -> None:
    site = installed.parent.parent / "lib"
    root = next(site.glob("python3*/site-packages/kimitui"))
    wanted = [p.relative_to(ROOT) for p in (ROOT / "kimitui").rglob("*") if _shipped(p)]
    wanted += [Path("kimitui/themes") / p.name for p in (ROOT / "themes").iterdir() if _shipped(p)]
    assert wanted, "nothing to compare"
    missing = [str(p) for p in wanted if not (root.parent / p).is_file()]
    assert missing == []


def _shipped(path: Path) -> bool:
    return (
        path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix in (".py", ".tcss", ".toml")
    )
