"""One glob table for list_files' pattern and search's glob, on both search engines.

Globs are relative to ``path``; braces, a leading ``./`` and ``**`` work; a glob
written from the project root is understood as well.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kimitui.tools import Toolbox, Workspace
from kimitui.tools.files import list_files
from kimitui.tools.globs import Glob, expand_braces
from kimitui.tools.search import search
from tests.test_tools_search import need_ripgrep

FILES = [
    "README.md",
    "setup.py",
    "docs/index.md",
    "docs/api/ref.md",
    "src/click/__init__.py",
    "src/click/core.py",
    "src/click/sub/deep.py",
    "src/other.py",
    "src/notes.md",
    "tests/test_core.py",
    "tests/data/x.txt",
]

IN_SRC = {f for f in FILES if f.startswith("src/")}
CLICK_TOP = {"src/click/__init__.py", "src/click/core.py"}

# (path, glob, the files it selects)
TABLE: list[tuple[str, str, set[str]]] = [
    (".", "*.py", {f for f in FILES if f.endswith(".py")}),
    ("src", "click/*.py", CLICK_TOP),  # relative to path: the example
    ("src", "src/click/*.py", CLICK_TOP),  # written from the root: same meaning
    ("src", "./click/*.py", CLICK_TOP),
    ("src", "*.{py,md}", IN_SRC),
    (".", "*.{py,md}", {f for f in FILES if f.endswith((".py", ".md"))}),
    (".", "{src,tests}/*.py", {"src/other.py", "tests/test_core.py"}),
    (".", "./*.md", {"README.md"}),  # ./ anchors at path: not docs/*.md
    ("docs", "./*.md", {"docs/index.md"}),
    (".", "src/**/*.py", {f for f in IN_SRC if f.endswith(".py")}),
    ("src", "**/deep.py", {"src/click/sub/deep.py"}),
    (".", "**/*.md", {f for f in FILES if f.endswith(".md")}),
    ("docs", "**", {"docs/index.md", "docs/api/ref.md"}),
    (".", "tests/", {"tests/test_core.py", "tests/data/x.txt"}),
    ("src", "click/**", {f for f in IN_SRC if f.startswith("src/click/")}),
    (".", "[st]*.py", {"setup.py", "tests/test_core.py"}),
    ("src", "core.py", {"src/click/core.py"}),
    ("tests", "data", {"tests/data/x.txt"}),  # a folder name at any depth
    (".", "*.rs", set()),
    ("src", "tests/*.py", set()),  # relative to src: there is no src/tests
]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("globs")
    for rel in FILES:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("marker\n")
    return root


def listed(out: str) -> set[str]:
    return {line for line in out.splitlines() if line in FILES}


def found(out: str) -> set[str]:
    return {line.split(":", 1)[0] for line in out.splitlines() if ":1:marker" in line}


@pytest.mark.parametrize(("path", "glob", "expected"), TABLE)
def test_list_files_glob(tree: Path, path: str, glob: str, expected: set[str]) -> None:
    out = list_files(Workspace(tree), path, glob)
    assert listed(out) == expected, out
    if not expected:
        assert out.startswith(f"no files matching {glob!r}")


@pytest.mark.parametrize("engine", ["python", "ripgrep"])
@pytest.mark.parametrize(("path", "glob", "expected"), TABLE)
def test_search_glob(tree: Path, path: str, glob: str, expected: set[str], engine: str) -> None:
    if engine == "ripgrep":
        need_ripgrep()
    out = search(Workspace(tree), "marker", path, glob, use_ripgrep=engine == "ripgrep")
    assert found(out) == expected, out
    if not expected:
        assert out.startswith("no matches for 'marker'")
        assert f"matches glob {glob!r}; globs are matched relative to path" in out


async def test_schemas_say_how_globs_are_matched(tree: Path) -> None:
    schemas = {s["function"]["name"]: s for s in Toolbox(Workspace(tree)).schemas()}
    for tool, arg in (("list_files", "pattern"), ("search", "glob")):
        text = schemas[tool]["function"]["parameters"]["properties"][arg]["description"]
        assert text.startswith("Relative to path") and "*.{py,md}" in text and "**" in text


def test_brace_expansion_nests_and_leaves_lone_braces_literal() -> None:
    assert expand_braces("a{b,c{d,e}}f") == ["abf", "acdf", "acef"]
    assert expand_braces("{x}.py") == ["{x}.py"]
    assert Glob("{x}.py").matches("{x}.py")
    with pytest.raises(Exception, match="more than 256 alternatives"):
        Glob("{a,b}" * 9)


def test_star_stays_in_one_part_and_double_star_spans_many() -> None:
    assert not Glob("src/*.py").matches("src/a/b.py")
    assert Glob("src/**/b.py").matches("src/b.py")
    assert Glob("src/**/b.py").matches("src/a/c/b.py")
    assert Glob("a?c.txt").matches("abc.txt") and not Glob("a?c.txt").matches("a/c.txt")
    assert Glob("[!a]*.py").matches("b.py") and not Glob("[!a]*.py").matches("a.py")
