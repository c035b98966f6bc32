"""search: output format, filters, caps, skipping ignored, binary and secret files."""

from __future__ import annotations

import os
import platform
import re
import shutil
import sys
from pathlib import Path

import pytest

from kimitui.tools import SandboxError, Toolbox, Workspace
from kimitui.tools.search import search


def write(root: Path, rel: str, data: str | bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path, "src/app.py", "import os\n\ndef price_with_tax(p):\n    return p * 1.2\n")
    write(tmp_path, "src/logic.py", "def apply_discount(p):\r\n    return p * 0.9  # TAX free\r\n")
    write(tmp_path, "README.md", "Call price_with_tax() to add tax.\n")
    write(tmp_path, "node_modules/lib/index.js", "price_with_tax\n")
    write(tmp_path, ".venv/lib/site.py", "price_with_tax\n")
    write(tmp_path, "out.log", "price_with_tax\n")
    write(tmp_path, ".gitignore", "*.log\n")
    write(tmp_path, ".env", "price_with_tax=sk-secret\n")
    write(tmp_path, "img.bin", b"\x00\x01price_with_tax\x00")
    return tmp_path


def need_ripgrep() -> None:
    """rg comes with .[test] where its wheel exists (see pyproject.toml); elsewhere, skip."""
    if shutil.which("rg") is not None:
        return
    if sys.platform == "linux" and platform.machine() == "x86_64":
        pytest.fail("rg is missing: it is a test dependency here (`pip install '.[test]'`)")
    pytest.skip("no ripgrep wheel for this platform, and rg is not installed")


def without_rg(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH without ripgrep, as on a machine that lacks it: the Python engine runs."""
    monkeypatch.setenv("PATH", os.pathsep.join(["/usr/bin", "/bin"]))
    assert shutil.which("rg") is None


def py(ws: Workspace, pattern: str, **kw) -> str:
    return search(ws, pattern, use_ripgrep=False, **kw)


def test_format_and_skips(project: Path) -> None:
    out = py(Workspace(project), r"price_with_tax")
    assert out.splitlines() == [
        "README.md:1:Call price_with_tax() to add tax.",
        "src/app.py:3:def price_with_tax(p):",
        "[2 matching lines in 2 files]",
    ]
    assert "sk-secret" not in out


def test_regex_ignore_case_glob_and_path(project: Path) -> None:
    ws = Workspace(project)
    assert py(ws, r"\btax\b", ignore_case=True, glob="*.py").splitlines()[:-1] == [
        "src/logic.py:2:    return p * 0.9  # TAX free",
    ]
    assert py(ws, r"^def \w+", path="src").splitlines()[:-1] == [
        "src/app.py:3:def price_with_tax(p):",
        "src/logic.py:1:def apply_discount(p):",
    ]
    assert py(ws, r"return", path="src/logic.py").startswith("src/logic.py:2:")
    # \A anchors at each line start, as in ripgrep; the whole-file prefilter must not hide it
    assert py(ws, r"\Adef").splitlines()[:-1] == [
        "src/app.py:3:def price_with_tax(p):",
        "src/logic.py:1:def apply_discount(p):",
    ]


def test_no_matches_and_bad_regex(project: Path) -> None:
    ws = Workspace(project)
    assert py(ws, "zebra") == "no matches for 'zebra'"
    with pytest.raises(Exception, match="invalid regular expression"):
        py(ws, "price(")
    with pytest.raises(Exception, match="outside the project"):
        py(ws, "x", path="../")


@pytest.mark.parametrize("use_ripgrep", [False, True])
def test_searching_a_secret_file_directly_says_it_is_withheld(
    project: Path, use_ripgrep: bool
) -> None:
    if use_ripgrep:
        need_ripgrep()
    for path in (".env", ".ENV"):
        with pytest.raises(SandboxError, match=f"'{re.escape(path)}' is withheld") as caught:
            search(Workspace(project), "sk-secret", path=path, use_ripgrep=use_ripgrep)
        assert "sk-secret" not in str(caught.value)


@pytest.mark.parametrize("use_ripgrep", [False, True])
def test_a_link_to_a_secret_or_out_of_the_project_contributes_nothing(
    project: Path, tmp_path_factory: pytest.TempPathFactory, use_ripgrep: bool
) -> None:
    if use_ripgrep:
        need_ripgrep()
    outside = tmp_path_factory.mktemp("outside") / "passwords.txt"
    outside.write_text("price_with_tax=hunter2\n")
    (project / "env_link").symlink_to(project / ".env")
    (project / "src" / "outside_link.txt").symlink_to(outside)
    (project / "src" / "inside_link.py").symlink_to(project / "src" / "app.py")

    out = search(Workspace(project), "price_with_tax", use_ripgrep=use_ripgrep)

    assert "sk-secret" not in out and "hunter2" not in out
    assert "env_link" not in out and "outside_link" not in out


def test_cap_reports_count_left_out(tmp_path: Path) -> None:
    write(tmp_path, "many.txt", "hit\n" * 250)
    write(tmp_path, "long.txt", "hit " + "y" * 1000 + "\n")
    out = search(Workspace(tmp_path), "hit", use_ripgrep=False, limit=200)
    lines = out.splitlines()
    assert len(lines) == 201
    assert lines[0] == (
        "long.txt:1:hit " + "y" * 236 + " [long line: 1,004 characters; columns 1-240 shown; "
        "the match starts at column 1]"
    )
    assert lines[-1] == (
        "[200 of 251 matching lines shown, from 2 of 2 files; 51 more not shown; narrow with "
        "path, glob or a more specific pattern]"
    )


async def test_search_through_toolbox(project: Path) -> None:
    result = await Toolbox(Workspace(project)).call("c", "search", {"pattern": "discount"})
    assert result.ok and result.output.startswith("src/logic.py:1:def apply_discount(p):")
    bad = await Toolbox(Workspace(project)).call("c", "search", {"pattern": "("})
    assert not bad.ok and bad.output.startswith("error: invalid regular expression")


@pytest.mark.parametrize(
    "pattern",
    [r"price_with_tax", r"^def \w+", r"(?i)tax", r"return", r"\(p\):$", "p$", "^$", r"\s+$", "^"],
)
def test_ripgrep_and_python_agree(project: Path, pattern: str) -> None:
    need_ripgrep()
    ws = Workspace(project)
    assert search(ws, pattern, use_ripgrep=True) == search(ws, pattern, use_ripgrep=False)


@pytest.fixture
def awkward(tmp_path: Path) -> Path:
    write(tmp_path, ".gitignore", "_build/\n*.log\n")
    write(tmp_path, "docs/_build/html/api.html", "wrap_session here\n")
    write(tmp_path, "docs/_build/html/x.log", "wrap_session in a log\n")
    write(tmp_path, "docs/_build/__pycache__/m.py", "wrap_session cached\n")
    write(tmp_path, "debug.log", "wrap_session logged\n")
    write(tmp_path, "node_modules/a/node_modules/b/index.js", "wrap_session nested\n")
    write(tmp_path, "min.js", "é" * 30_000 + "wrap_session" + "ü" * 500 + "\n")
    write(tmp_path, "src/ok.py", "wrap_session()\n")
    return tmp_path


@pytest.mark.parametrize(
    "path", [".", "docs/_build", "docs/_build/html/x.log", "debug.log", "node_modules", "min.js"]
)
def test_both_engines_agree_on_named_ignored_paths_and_long_lines(awkward: Path, path: str) -> None:
    need_ripgrep()
    ws = Workspace(awkward)
    python = search(ws, "wrap_session", path, use_ripgrep=False)
    assert search(ws, "wrap_session", path, use_ripgrep=True) == python
    if path != ".":
        assert "no matches" not in python  # named on purpose: searched, never a bare "no"
    if path not in (".", "min.js"):
        assert f"[note: {path} is ignored (by .gitignore or the built-in rules" in python


def test_named_ignored_folder_keeps_its_own_junk_out(awkward: Path) -> None:
    out = py(Workspace(awkward), "wrap_session", path="docs/_build")
    assert out.splitlines()[0] == "docs/_build/html/api.html:1:wrap_session here"
    assert "__pycache__" not in out and "x.log" not in out  # rules that match files stay
    nested = py(Workspace(awkward), "wrap_session", path="node_modules")
    assert nested.startswith("node_modules/a/node_modules/b/index.js:1:wrap_session nested\n")


def test_long_line_window_counts_columns_in_characters(awkward: Path) -> None:
    first = py(Workspace(awkward), "wrap_session", path="min.js").splitlines()[0]
    assert first == (
        "min.js:1:" + "é" * 100 + "wrap_session" + "ü" * 128 + " [long line: 30,512 characters; "
        "columns 29,901-30,140 shown; the match starts at column 30,001]"
    )
