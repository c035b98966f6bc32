"""The project tree: the model's view of the files, with what happened to them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

from rich.style import Style
from rich.text import Text, TextType
from textual.widgets import DirectoryTree
from textual.widgets._directory_tree import DirEntry
from textual.widgets.tree import TreeNode

from kimitui.tools.ignore import IgnoreRules, builtin_ignored, git_ignored
from kimitui.tui.safety import plain

Marker = Literal["read", "pending", "ours", "outside"]
# Strongest first: a file with a pending edit shows that before anything else.
PRIORITY: tuple[Marker, ...] = ("pending", "outside", "ours", "read")
GLYPHS: dict[Marker, str] = {"read": "○", "pending": "✎", "ours": "●", "outside": "△"}
LEGEND = "○read ✎edit ●ours △ext"


class ProjectTree(DirectoryTree):
    """A DirectoryTree that hides what ``list_files`` hides and shows markers."""

    COMPONENT_CLASSES = DirectoryTree.COMPONENT_CLASSES | {
        "project-tree--read",
        "project-tree--pending",
        "project-tree--ours",
        "project-tree--outside",
    }

    def __init__(self, root: Path, *, id: str | None = None) -> None:
        super().__init__(root, id=id)
        self.root_path = root
        self.rules = IgnoreRules(root)
        self.markers: dict[str, set[Marker]] = {}
        self._folded: dict[str, Marker] = {}

    def process_label(self, label: TextType) -> Text:
        """A file name is a name, not markup: ``[b]x.py`` or ``[/]`` show as they are.

        The names come from whatever repository was cloned; any control character
        in one (an OSC 52 clipboard write, a title change) is shown escaped.
        """
        if isinstance(label, str):
            return plain(label)
        return super().process_label(label)

    # -- filtering -------------------------------------------------------

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        kept, levels_cache = [], {}
        for path in paths:
            rel = path.relative_to(self.root_path).as_posix()
            parent = rel.rpartition("/")[0]
            if parent not in levels_cache:
                levels_cache[parent] = self.rules.levels_for(parent)
            is_dir = self._safe_is_dir(path)
            if builtin_ignored(path.name, is_dir) or git_ignored(rel, is_dir, levels_cache[parent]):
                continue
            if is_dir and (path / "pyvenv.cfg").exists():
                continue
            kept.append(path)
        return kept

    # -- markers ---------------------------------------------------------

    def mark(self, rel: str, marker: Marker, on: bool = True) -> None:
        # A checkout marks thousands of files one by one: a mark costs its depth, not the
        # number of markers (a full fold per mark froze the app 6 s for 2,000 files).
        kinds = self.markers.setdefault(rel, set())
        if on:
            kinds.add(marker)
            self._fold_in(rel, marker)
        elif marker in kinds:
            kinds.discard(marker)
            if self._shown_above(rel, marker):
                self._fold()  # a weaker marker may take over those folders: count again
        self._repaint(rel)

    def marker(self, rel: str) -> Marker | None:
        kinds = self.markers.get(rel)
        if kinds:
            return next(m for m in PRIORITY if m in kinds)
        return self._folded.get(rel)

    def _shown_above(self, rel: str, marker: Marker) -> bool:
        parts = rel.split("/")[:-1]
        return any(
            self._folded.get("/".join(parts[:depth])) == marker
            for depth in range(1, len(parts) + 1)
        )

    def _fold(self) -> None:
        """Folders show the strongest marker found inside them."""
        self._folded = {}
        for rel, kinds in self.markers.items():
            if kinds:
                self._fold_in(rel, next(m for m in PRIORITY if m in kinds))

    def _fold_in(self, rel: str, marker: Marker) -> None:
        """Raise the folders above ``rel`` to ``marker`` where it is stronger."""
        parts = rel.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            current = self._folded.get(folder)
            if current is None or PRIORITY.index(marker) < PRIORITY.index(current):
                self._folded[folder] = marker

    def _repaint(self, rel: str) -> None:
        """Refresh the loaded nodes on the way down to ``rel`` (its folders, then itself)."""
        node = self.root
        for name in rel.split("/"):
            child = next((c for c in node.children if c.data and c.data.path.name == name), None)
            if child is None:
                return  # not loaded: drawn with its marker when its folder opens
            child.refresh()
            node = child

    def _walk(self, node: TreeNode[DirEntry]) -> Iterator[TreeNode[DirEntry]]:
        """Every loaded node under ``node``, itself first."""
        yield node
        for child in node.children:
            yield from self._walk(child)

    def _rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root_path).as_posix()
        except ValueError:
            return ""

    def render_label(self, node: TreeNode[DirEntry], base_style: Style, style: Style) -> Text:
        label = super().render_label(node, base_style, style)
        if node.data is None or not self.is_mounted:
            return label
        marker = self.marker(self._rel(node.data.path))
        if marker is not None:
            glyph_style = self.get_component_rich_style(f"project-tree--{marker}", partial=True)
            label.append(" " + GLYPHS[marker], style=glyph_style)
        return label
