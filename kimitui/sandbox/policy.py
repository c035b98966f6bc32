"""What one sandboxed run may touch: the project, minus what is protected.

Protected inside the project: every ``.git`` folder (at any depth), files
withheld as secrets, and ``[tools] deny_write`` matches. They are found by
walking the project once per run, skipping the heavy folders no secret of the
user's lives in (``node_modules``, virtualenvs, caches).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Folders not walked for secrets: dependencies and caches, never the user's own.
SKIP_WALK = frozenset(
    {"node_modules", ".venv", "venv", "__pycache__", ".mypy_cache", ".ruff_cache",
     ".pytest_cache", ".tox", ".nox", "site-packages", ".hypothesis"}
)  # fmt: skip
MAX_WALK_ENTRIES = 200_000
# A commit never needs to change these; a hook that tries must fail.
GIT_KEEP_READ_ONLY = ("config", "hooks")

# Credential stores in the user's home that no test needs; hidden when the
# mechanism can hide paths (bubblewrap), relative to $HOME.
HOME_SECRETS = (
    ".ssh", ".aws", ".azure", ".gnupg", ".kube", ".docker", ".config/gcloud",
    ".config/gh", ".config/hub", ".netrc", ".git-credentials", ".pypirc", ".npmrc",
    ".cargo/credentials", ".cargo/credentials.toml", ".local/share/keyrings",
)  # fmt: skip


@dataclass(frozen=True)
class Protected:
    git_dirs: tuple[Path, ...] = ()
    secrets: tuple[Path, ...] = ()  # unreadable and unwritable inside the sandbox
    read_only: tuple[Path, ...] = ()  # deny_write matches

    @property
    def all(self) -> tuple[Path, ...]:
        return (*self.git_dirs, *self.secrets, *self.read_only)


@dataclass(frozen=True)
class Policy:
    """One run's rules. ``writable`` is False under ``--approve never``."""

    root: Path
    writable: bool = True
    network: bool = False
    protected: Protected = field(default_factory=Protected)
    hidden: tuple[Path, ...] = ()  # outside the project: credential stores
    # Only for a git action the user approved (a commit): these repository folders
    # (the git dir, and a linked worktree's common dir) become writable, all but
    # their config and hooks where the mechanism can carve those out (bwrap,
    # seatbelt; Landlock grants the whole folder). Empty for everything else.
    git_writable: tuple[Path, ...] = ()

    @property
    def git_kept(self) -> tuple[Path, ...]:
        """Inside a writable git dir, what still stays read-only."""
        return tuple(g / name for g in self.git_writable for name in GIT_KEEP_READ_ONLY)


def scan_protected(
    root: Path, is_secret: Callable[[str], bool], is_denied: Callable[[str], bool]
) -> Protected:
    """Every protected path under ``root`` (relative checks use posix paths)."""
    git_dirs: list[Path] = []
    secrets: list[Path] = []
    read_only: list[Path] = []
    for path, rel, is_dir in _walk(root):
        if path.name.casefold() == ".git":
            git_dirs.append(path)
            secrets.extend(_git_configs(path))
        elif is_secret(rel):
            secrets.append(path)
        elif not is_dir and is_denied(rel):
            read_only.append(path)
    return Protected(tuple(git_dirs), tuple(secrets), tuple(read_only))


def _git_configs(git_dir: Path) -> list[Path]:
    """Remote URLs in these can carry tokens; the workspace withholds them too."""
    if not git_dir.is_dir():
        return []
    found = [git_dir / "config"]
    modules = git_dir / "modules"
    if modules.is_dir():
        found += [p for p in modules.rglob("config") if p.is_file()]
    return [p for p in found if p.exists()]


def _walk(root: Path) -> Iterator[tuple[Path, str, bool]]:
    stack = [root]
    seen = 0
    while stack and seen < MAX_WALK_ENTRIES:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            path = Path(entry.path)
            is_dir = entry.is_dir(follow_symlinks=False)
            rel = path.relative_to(root).as_posix()
            yield path, rel, is_dir
            if is_dir and entry.name not in SKIP_WALK and entry.name.casefold() != ".git":
                stack.append(path)


def home_secrets(home: Path | None = None) -> tuple[Path, ...]:
    home = home or Path(os.path.expanduser("~"))
    found = [home / rel for rel in HOME_SECRETS]
    return tuple(p for p in found if p.exists() or p.is_symlink())


def write_grants(policy: Policy, tmp: Path, rights: int, file_rights: int) -> list[tuple[str, int]]:
    """Landlock grants: (path, rights) pairs giving write access to the project
    minus its protected paths, and to the private temp dir.

    Landlock can only allow, never carve a hole: a folder holding a protected
    path is granted entry by entry, so nothing new can be created directly in
    it (any right on the folder itself would reach the protected entry too).
    """
    grants: list[tuple[str, int]] = [(str(tmp), rights), ("/dev/null", file_rights)]
    if not policy.writable:
        return grants
    # Landlock cannot carve config and hooks out of a writable git dir: git must
    # create files (index.lock) directly in it, so the whole folder is granted.
    writable_git = policy.git_writable
    protected = {
        p for p in policy.protected.all if not any(p.is_relative_to(g) for g in writable_git)
    }
    trees = [policy.root]
    # A git dir outside the project (a worktree's common dir, a parent repository).
    trees += [g for g in writable_git if not g.is_relative_to(policy.root)]
    for tree in trees:
        grants += _tree_grants(tree, protected, rights, file_rights)
    return grants


def _tree_grants(
    tree: Path, protected: set[Path], rights: int, file_rights: int
) -> list[tuple[str, int]]:
    """Write access to ``tree`` minus the protected paths in it, entry by entry where needed."""
    inside = {p for p in protected if p.is_relative_to(tree)}
    if not inside:
        return [(str(tree), rights)]
    grants: list[tuple[str, int]] = []
    ancestors = {parent for path in inside for parent in path.parents}
    stack = [tree]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            path = Path(entry.path)
            # A rule follows a symlink to its target, which may lie outside.
            if path in inside or entry.is_symlink():
                continue
            if path in ancestors:
                stack.append(path)
            else:
                grants.append((str(path), rights if entry.is_dir() else file_rights))
    return grants
