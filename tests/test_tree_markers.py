"""Tree markers: folders show the strongest marker inside them, and thousands of marks
(a checkout, a command's changes) cost their depth each, not a recount of all of them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult

from kimitui.tui.tree import ProjectTree


class TreeApp(App[None]):
    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root_path = root

    def compose(self) -> ComposeResult:
        yield ProjectTree(self.root_path, id="tree")


@asynccontextmanager
async def tree_app(tmp_path: Path) -> AsyncIterator[tuple[ProjectTree, Any]]:
    root = tmp_path / "repo"
    for rel in ("top.py", "src/m.py", "src/a/m.py", "src/a/b/m.py", "docs/x.md"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x\n")
    app = TreeApp(root)
    async with app.run_test(size=(60, 30), notifications=False) as pilot:
        tree = app.query_one(ProjectTree)
        deadline = time.monotonic() + 10
        while not tree.root.children and time.monotonic() < deadline:
            await pilot.pause(0.02)
        assert tree.root.children, "the tree never loaded"
        yield tree, pilot


async def test_folders_show_the_strongest_marker_inside_and_give_it_back(tmp_path: Path) -> None:
    async with tree_app(tmp_path) as (tree, _pilot):
        tree.mark("src/a/m.py", "read")
        tree.mark("src/m.py", "ours")
        assert (tree.marker("src"), tree.marker("src/a")) == ("ours", "read")
        tree.mark("src/a/b/m.py", "pending")
        assert [tree.marker(f) for f in ("src", "src/a", "src/a/b")] == ["pending"] * 3
        tree.mark("src/a/b/m.py", "pending", on=False)
        assert [tree.marker(f) for f in ("src", "src/a", "src/a/b")] == ["ours", "read", None]
        tree.mark("src/m.py", "read", on=False)  # never had it: nothing changes
        assert tree.marker("src/m.py") == "ours" and tree.marker("docs") is None


async def test_a_checkout_worth_of_marks_never_recounts_every_marker(tmp_path: Path) -> None:
    async with tree_app(tmp_path) as (tree, _pilot):
        folds = 0
        recount = tree._fold

        def counted() -> None:
            nonlocal folds
            folds += 1
            recount()

        tree._fold = counted  # type: ignore[method-assign]
        rels = [f"src/p{d}/m{i}.py" for d in range(30) for i in range(100)]
        for rel in rels:
            tree.mark(rel, "outside")
            tree.mark(rel, "read")
        assert folds == 0 and tree.marker("src/p7") == "outside"
        for rel in rels:
            tree.mark(rel, "read", on=False)  # weaker than what the folders show
        assert folds == 0
        tree.mark(rels[0], "outside", on=False)  # its folder showed it: counted again
        assert folds == 1 and tree.marker("src/p0") == "outside"  # the other 99 still do


async def test_a_mark_repaints_its_folder_even_while_the_folder_is_closed(tmp_path: Path) -> None:
    async with tree_app(tmp_path) as (tree, pilot):
        await pilot.pause()
        src = next(n for n in tree.root.children if n.label.plain == "src")
        assert "△" not in tree.render_line(src.line).text
        tree.mark("src/a/m.py", "outside")
        assert "△" in tree.render_line(src.line).text
