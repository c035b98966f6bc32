"""A 50,000-file repository: listing stays fast and capped, search finds the needle only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kimitui.tools import Toolbox, Workspace
from kimitui.tools.files import list_files
from kimitui.tools.search import search

NEEDLE = "NEEDLE_7f3a_planted"
BODY = b"import os\n\n\ndef f(x):\n    return x + 1\n"


def _fill(folder: Path, dirs: int, per_dir: int, suffix: str) -> int:
    """Create dirs * per_dir small files fast (raw os calls, no pathlib per file)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    for d in range(dirs):
        sub = folder / f"pkg_{d:03}"
        sub.mkdir(parents=True)
        base = str(sub) + "/mod_"
        for i in range(per_dir):
            fd = os.open(f"{base}{i:03}{suffix}", flags, 0o644)
            os.write(fd, BODY)
            os.close(fd)
    return dirs * per_dir


@pytest.fixture(scope="module")
def big_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bigrepo")
    total = _fill(root / "node_modules", 250, 100, ".js")
    total += _fill(root / ".venv" / "lib", 100, 100, ".py")
    (root / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    total += _fill(root / "generated", 10, 100, ".py")  # ignored by .gitignore
    total += _fill(root / "src", 140, 100, ".py")
    (root / ".gitignore").write_text("generated/\n*.log\n")
    planted = {
        "src/pkg_077/mod_042.py": f"x = 1\n# {NEEDLE}\n",
        "node_modules/pkg_010/mod_001.js": NEEDLE,
        ".venv/lib/pkg_003/mod_004.py": NEEDLE,
        "generated/pkg_001/mod_001.py": NEEDLE,
        "debug.log": NEEDLE,
        ".env": f"TOKEN={NEEDLE}\n",
        "keys/server.pem": NEEDLE,
        "blob.bin": f"\x00{NEEDLE}",
    }
    for rel, text in planted.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert total + 2 >= 50_000
    return root


def test_list_files_shows_the_shape_and_the_total(big_repo: Path) -> None:
    out = list_files(Workspace(big_repo))
    lines = out.splitlines()
    assert len(out) <= 16_000
    # 14,000 under src/ plus .gitignore, .env, keys/server.pem and blob.bin
    assert lines[-1].startswith("[14,004 files in the project: ")
    assert "src/  (14,000 files)" in lines and "src/pkg_139/  (100 files)" in lines
    assert "keys/  (1 file)" in lines
    assert {".gitignore", ".env  [withheld: secret]", "blob.bin"} <= set(lines)
    assert not any(line.startswith(("node_modules/", ".venv/", "generated/")) for line in lines)
    narrowed = list_files(Workspace(big_repo), "src/pkg_077")
    assert narrowed.splitlines()[-1] == "[100 files in src/pkg_077]"


@pytest.mark.parametrize("use_ripgrep", [False, None], ids=["python", "auto"])
def test_search_finds_planted_string_and_skips_the_rest(big_repo: Path, use_ripgrep) -> None:
    out = search(Workspace(big_repo), NEEDLE, use_ripgrep=use_ripgrep)
    assert out.splitlines() == [
        f"src/pkg_077/mod_042.py:2:# {NEEDLE}",
        "[1 matching line in 1 file]",
    ]


async def test_toolbox_on_big_repo(big_repo: Path) -> None:
    box = Toolbox(Workspace(big_repo))
    listed = await box.call("c", "list_files", {"pattern": "mod_042.py"})
    assert listed.ok and listed.output.splitlines()[-1] == "[140 files in the project]"
    found = await box.call("c", "search", {"pattern": NEEDLE, "glob": "*.py"})
    assert found.output.startswith(f"src/pkg_077/mod_042.py:2:# {NEEDLE}\n")
