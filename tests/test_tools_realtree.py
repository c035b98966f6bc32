"""A generated tree the size of a real project (560 files, long paths) through the Toolbox.

Benchmark JSONs and docs sort before the package and the tests; a listing of the
first paths in sort order hid the code. The shape listing names every package
folder, and the totals of both tools survive the output cap.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kimitui.tools import Toolbox, Workspace
from kimitui.tools.limits import cap_text
from tests.test_tools_search import need_ripgrep, without_rg

LONG = "a_rather_long_descriptive_component_name_as_real_projects_have"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("realtree")

    def put(rel: str, text: str) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    for i in range(200):
        put(f"benchmarks/results/{LONG}_run_{i:03}.json", '{"ok": true}\n')
    for i in range(150):
        put(f"docs/reference/{LONG}/page_{i:03}_{LONG}.md", "# page\n")
    method = "    def method(self):\n        return self.value\n"
    for i in range(120):
        put(f"src/richlike/module_{i:03}.py", "class C:\n" + method * 15)  # 30 "self" lines
    for i in range(80):
        put(f"tests/test_module_{i:03}.py", "def test():\n    assert True\n")
    for name in ("README.md", "pyproject.toml", "LICENSE", "CHANGELOG.md"):
        put(name, "text\n")
    put(".gitignore", "*.log\n")
    return root


async def test_list_files_shows_the_package_the_tests_and_the_total(project: Path) -> None:
    box = Toolbox(Workspace(project))
    result = await box.call("c", "list_files", {})
    out = result.output
    lines = out.splitlines()
    assert result.ok and len(out) <= box.max_output_chars
    assert "output cut" not in out  # the tool sized itself; the generic cap never acted
    assert lines[-1].startswith("[555 files in the project: ")
    for folder in (
        "src/  (120 files)",
        "src/richlike/  (120 files)",
        "tests/  (80 files)",
        "docs/  (150 files)",
        "benchmarks/results/  (200 files)",
    ):
        assert folder in lines
    assert {"README.md", "pyproject.toml", ".gitignore"} <= set(lines)
    assert any(line.startswith("tests/test_module_") for line in lines)


@pytest.mark.parametrize("engine", ["python", "ripgrep"])
@pytest.mark.parametrize("cap", [16_000, 4_000])
async def test_search_totals_survive_the_cap(
    project: Path, engine: str, cap: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine == "ripgrep":
        need_ripgrep()
    else:
        without_rg(monkeypatch)
    box = Toolbox(Workspace(project), max_output_chars=cap)
    result = await box.call("c", "search", {"pattern": r"\bself\b"})
    out = result.output
    assert result.ok and len(out) <= cap and "output cut" not in out
    summary = out.splitlines()[-1]
    found = re.fullmatch(
        r"\[([\d,]+) of 3,600 matching lines shown, from ([\d,]+) of 120 files; "
        r"([\d,]+) more not shown; narrow with path, glob or a more specific pattern\]",
        summary,
    )
    assert found, summary
    shown = int(found.group(1).replace(",", ""))
    assert shown == len(out.splitlines()) - 1
    assert int(found.group(3).replace(",", "")) == 3_600 - shown
    assert out.startswith("src/richlike/module_000.py:2:    def method(self):\n")


def test_the_generic_cap_keeps_a_summary_line() -> None:
    body = "\n".join(f"path/{i:05}.py" for i in range(40_000))
    text = body + "\n[1000 of 40000 files shown; narrow with path or pattern]"
    capped = cap_text(text, 16_000)
    assert len(capped) <= 16_000
    assert capped.endswith("\n[1000 of 40000 files shown; narrow with path or pattern]")
    assert "[output cut: " in capped
    # A last line that is not a summary is cut like any other text.
    assert not cap_text(body, 1_000).endswith("39999.py")
