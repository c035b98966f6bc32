"""The narrow .git-writable option of a sandbox policy, used only for an approved commit.

Real bubblewrap and Landlock on this kernel; a real ``git commit`` in a temp repository.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from kimitui.sandbox import Policy, Sandbox, scan_protected
from kimitui.sandbox.macos import seatbelt_profile

MECHANISMS = ("bwrap", "landlock")


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Tester")
    git(root, "config", "user.email", "t@example.com")
    (root / "a.py").write_text("x = 1\n")
    return root


def policy(root: Path, *, git_writable: bool) -> Policy:
    protected = scan_protected(root, lambda rel: False, lambda rel: False)
    # As the git tools do: git needs its own config (the identity lives there here).
    protected = replace(protected, secrets=())
    gits = protected.git_dirs if git_writable else ()
    return Policy(root=root, protected=protected, git_writable=gits)


SCRIPT = """
import pathlib, sys
for target in sys.argv[1:]:
    try:
        pathlib.Path(target).write_text("x")
        print("WROTE", target)
    except OSError as exc:
        print("DENIED", target, type(exc).__name__)
"""


async def writes(mech: str, root: Path, pol: Policy, targets: list[Path]) -> str:
    args = [sys.executable, "-c", SCRIPT, *map(str, targets)]
    run = await Sandbox(mechanism=mech).run(args, pol, 30)
    assert run.exit_code == 0, run.output
    return run.output


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_git_dir_is_read_only_unless_the_policy_says_so(
    mechanism: str, repo: Path, tmp_path: Path
) -> None:
    hook = repo / ".git/hooks/pre-commit"
    targets = [repo / ".git" / "new-file", repo / ".git" / "config", hook]
    outside = tmp_path / "outside.txt"  # bwrap: a private /tmp; Landlock: denied
    out = await writes(mechanism, repo, policy(repo, git_writable=False), [*targets, outside])
    assert all(f"DENIED {t}" in out for t in targets), out
    out = await writes(mechanism, repo, policy(repo, git_writable=True), [*targets, outside])
    assert f"WROTE {targets[0]}" in out
    if mechanism == "bwrap":  # config and hooks carved out of the writable git dir
        assert f"DENIED {targets[1]}" in out and f"DENIED {hook}" in out, out
    assert not outside.exists()


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_commit_runs_with_the_option_and_fails_without(mechanism: str, repo: Path) -> None:
    git(repo, "add", "a.py")
    env_args = ["git", "-c", "core.fsmonitor=false", "commit", "-q", "-m", "first"]
    sandbox = Sandbox(mechanism=mechanism)
    # The user's identity lives in .git/config here, which this test leaves readable.
    denied = await sandbox.run(env_args, policy(repo, git_writable=False), 30)
    assert not denied.ok
    assert git(repo, "rev-list", "--all") == ""
    done = await sandbox.run(env_args, policy(repo, git_writable=True), 30)
    assert done.ok, done.output
    assert git(repo, "log", "--format=%s") == "first\n"


def test_seatbelt_profile_allows_only_the_named_git_dir(tmp_path: Path) -> None:
    gitdir = tmp_path / ".git"
    text = seatbelt_profile(Policy(root=tmp_path, git_writable=(gitdir,)), tmp_path / "t")
    allow = text.index(f'(allow file-write* (subpath "{gitdir}"))')
    assert text.index(f'(deny file-write* (subpath "{gitdir}/hooks"))') > allow
    assert "git" not in seatbelt_profile(Policy(root=tmp_path), tmp_path / "t")
