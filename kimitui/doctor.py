"""`kimitui doctor`: what this machine gives kimitui, and what rests on it.

It starts no model and imports neither the SDK nor Textual.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys

from kimitui.config import ConfigError, config_path, load_settings
from kimitui.core.statedir import state_dir
from kimitui.sandbox import detect


def doctor_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kimitui doctor",
        description="Show the sandbox level and which promise rests on what, "
        "ripgrep, git, the config file and the state folder.",
    )
    p.add_argument("--json", action="store_true", help="one JSON object instead of text")
    return p


def _version(program: str, flag: str = "--version") -> str | None:
    path = shutil.which(program)
    if path is None:
        return None
    try:
        # kimitui's own probe of rg/git versions; nothing the model chose runs here.
        done = subprocess.run([path, flag], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return f"{path} (did not answer {flag})"
    first = (done.stdout or done.stderr).strip().splitlines()
    return f"{first[0] if first else '?'} ({path})"


def report() -> dict[str, object]:
    problems: list[str] = []
    try:
        settings = load_settings({})
        mechanism, network = settings.sandbox_mechanism, settings.sandbox_network
    except ConfigError as err:
        problems.append(str(err))
        mechanism, network = "auto", False
    level = detect(mechanism)
    return {
        "sandbox": level.name,
        "sandbox_detail": level.detail,
        "network": network,
        "promises": [{"promise": p, "held_by": h} for p, h in level.promises(network)],
        "unconfined_runs": "ask: each run waits for your yes; auto: run; never: refused"
        if not level.confined
        else "all runs confined",
        "ripgrep": _version("rg"),
        "git": _version("git"),
        "python": f"{platform.python_version()} ({sys.executable})",
        "config": str(config_path()),
        "state_dir": str(state_dir()),
        "problems": problems,
    }


def main(argv: list[str]) -> int:
    args = doctor_parser().parse_args(argv[1:])
    info = report()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"sandbox:     {info['sandbox']}  ({info['sandbox_detail']})")
    for row in info["promises"]:  # type: ignore[attr-defined]
        print(f"  - {row['promise']}: {row['held_by']}")
    print(f"  unconfined runs: {info['unconfined_runs']}")
    print(f"ripgrep:     {info['ripgrep'] or 'not found: search uses its Python engine'}")
    print(f"git:         {info['git'] or 'not found: git tools are off'}")
    print(f"python:      {info['python']}")
    print(f"config:      {info['config']}")
    print(f"state dir:   {info['state_dir']}")
    for problem in info["problems"]:  # type: ignore[attr-defined]
        print(f"problem:     {problem}")
    return 1 if info["problems"] else 0
