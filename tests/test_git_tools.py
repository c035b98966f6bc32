"""The git tools on real temp repositories, every git process in the real sandbox."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kimitui.sandbox import Sandbox
from kimitui.tools import SandboxError, Toolbox, ToolError, Workspace
from kimitui.tools.git import TRAILER, CommitAnswer, CommitRequest, GitTools, parse_head

SECRET = "sk_live_never_shown_123456"


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout


def make_repo(root: Path, *, commit: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Tester")
    git(root, "config", "user.email", "t@example.com")
    if commit:
        (root / "a.py").write_text("x = 1\n")
        (root / "b.py").write_text("y = 2\n")
        git(root, "add", "a.py", "b.py")
        git(root, "commit", "-q", "-m", "first")
    return root


class Approver:
    """Answers every commit request as told, and keeps what it was shown."""

    def __init__(self, answer: CommitAnswer | None = None) -> None:
        self.answer = answer or CommitAnswer()
        self.requests: list[CommitRequest] = []

    async def __call__(self, request: CommitRequest) -> CommitAnswer:
        self.requests.append(request)
        return self.answer


def tools(root: Path, approver: Approver | None = None, mechanism: str = "auto", **kw) -> GitTools:
    return GitTools(Workspace(root), Sandbox(mechanism=mechanism), approve=approver, **kw)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def test_tools_exist_only_inside_a_work_tree(tmp_path: Path, repo: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    names = {s["function"]["name"] for s in Toolbox(Workspace(plain)).schemas()}
    assert not names & {"git_status", "git_commit"}
    names = {s["function"]["name"] for s in Toolbox(Workspace(repo)).schemas()}
    assert {"git_status", "git_diff", "git_log", "git_commit"} <= names
    sub = repo / "pkg"
    sub.mkdir()
    assert Toolbox(Workspace(sub)).git is not None  # a subfolder of a work tree


async def test_no_repo_call_is_an_unknown_tool(tmp_path: Path) -> None:
    result = await Toolbox(Workspace(tmp_path)).call("c1", "git_status", "{}")
    assert not result.ok and "unknown tool 'git_status'" in result.output


async def test_status_diff_log(repo: Path) -> None:
    (repo / "a.py").write_text("x = 10\n")
    (repo / "new.py").write_text("z = 3\n")
    (repo / ".env").write_text(f"KEY={SECRET}\n")
    git(repo, "add", ".env")
    t = tools(repo)
    status = await t.status()
    assert status.splitlines()[0].startswith("## main")
    assert " M a.py" in status and "?? new.py" in status
    diff = await t.diff()
    assert "-x = 1\n+x = 10" in diff and "untracked" in diff and "new.py" in diff
    staged = await t.diff(staged=True)
    assert SECRET not in staged and ".env" not in staged
    assert staged == "no staged changes"
    log = await t.log()
    assert log.endswith("Tester: first") and len(log.splitlines()) == 1
    assert await t.diff("b.py") == "no unstaged changes in b.py"
    with pytest.raises(ToolError, match="withheld"):
        await t.diff(".env")


async def test_withheld_file_changes_never_appear_in_a_diff(repo: Path) -> None:
    (repo / ".env").write_text(f"KEY={SECRET}\n")
    git(repo, "add", ".env")
    git(repo, "commit", "-q", "-m", "env")
    (repo / ".env").write_text(f"KEY={SECRET}-rotated\n")
    (repo / "a.py").write_text(f"token = '{SECRET}-rotated'\n")
    diff = await tools(repo).diff()
    assert ".env" not in diff
    assert "a.py" in diff and SECRET not in diff and "[withheld]" in diff


async def test_detached_head_and_empty_repo(tmp_path: Path, repo: Path) -> None:
    sha = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "--detach")
    head = await tools(repo).head()
    assert head.branch == f"detached {sha[:7]}" and head.dirty == 0
    assert "HEAD (no branch)" in await tools(repo).status()
    empty = make_repo(tmp_path / "empty", commit=False)
    (empty / "n.py").write_text("n = 1\n")
    t = tools(empty, Approver())
    assert await t.log() == "no commits yet"
    assert "No commits yet" in await t.status()
    assert (await t.head()).dirty == 1
    ok, text = await t.commit("c1", "start", ["n.py"])
    assert ok, text
    assert git(empty, "log", "--format=%s").strip() == "start"


@pytest.mark.parametrize("mechanism", ["bwrap", "landlock"])
async def test_commit_with_paths_commits_only_those(repo: Path, mechanism: str) -> None:
    (repo / "a.py").write_text("x = 10\n")
    (repo / "b.py").write_text("y = 20\n")
    (repo / "c.py").write_text("c = 1\n")
    (repo / "d.py").write_text("d = 1\n")
    git(repo, "add", "d.py")  # staged by the user: not part of this commit
    approver = Approver()
    t = tools(repo, approver, mechanism)
    ok, text = await t.commit("c1", "Change a, add c", ["a.py", "c.py"])
    assert ok and text.startswith("committed ") and "(2 files)" in text
    changed = git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert changed == ["a.py", "c.py"]
    body = git(repo, "log", "-1", "--format=%B")
    assert body.startswith("Change a, add c") and TRAILER in body
    request = approver.requests[0]
    assert request.files == ("a.py", "c.py") and "+x = 10" in request.diff
    assert "+c = 1" in request.diff and "b.py" not in request.diff and "d.py" not in request.diff
    assert git(repo, "status", "--short", "b.py").startswith(" M")


async def test_refusal_and_never_commit_nothing(repo: Path) -> None:
    (repo / "a.py").write_text("x = 10\n")
    before = git(repo, "rev-parse", "HEAD")
    with pytest.raises(ToolError, match="did not commit: not now"):
        await tools(repo, Approver(CommitAnswer("not now"))).commit("c", "m", ["a.py"])
    with pytest.raises(ToolError, match="--approve never"):
        await tools(repo, Approver(), read_only=True).commit("c", "m", ["a.py"])
    assert git(repo, "rev-parse", "HEAD") == before


async def test_edited_message_is_used(repo: Path) -> None:
    (repo / "a.py").write_text("x = 10\n")
    approver = Approver(CommitAnswer(None, "Better message"))
    ok, _ = await tools(repo, approver).commit("c", "meh", ["a.py"])
    assert ok and git(repo, "log", "-1", "--format=%s").strip() == "Better message"


async def test_withheld_paths_and_empty_commits_are_refused(repo: Path) -> None:
    (repo / ".env").write_text("K=v\n")
    t = tools(repo, Approver())
    with pytest.raises(ToolError, match="withheld"):
        await t.commit("c", "m", [".env"])
    with pytest.raises(ToolError, match="nothing to commit"):
        await t.commit("c", "m", ["b.py"])
    with pytest.raises(ToolError, match="nothing is staged"):
        await t.commit("c", "m")
    with pytest.raises(SandboxError, match="outside the project"):
        await t.commit("c", "m", ["../elsewhere.py"])
    with pytest.raises(ToolError, match="message is empty"):
        await t.commit("c", "  ", ["a.py"])


async def test_staged_commit_without_paths(repo: Path) -> None:
    (repo / "a.py").write_text("x = 10\n")
    (repo / "b.py").write_text("y = 20\n")
    git(repo, "add", "a.py")
    ok, _ = await tools(repo, Approver()).commit("c", "staged only")
    assert ok
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["a.py"]


HOOK = """#!/bin/sh
echo "hook ran in $(pwd)"
echo escaped > {outside} 2>/dev/null && echo "WROTE OUTSIDE" || echo "outside write failed"
echo x >> .git/config 2>/dev/null && echo "WROTE CONFIG" || echo "config write failed"
exit {code}
"""


async def test_hooks_are_shown_and_run_confined(repo: Path, tmp_path: Path) -> None:
    outside = Path.home() / f".kimitui-hook-test-{tmp_path.name}"
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text(HOOK.format(outside=outside, code=0))
    hook.chmod(0o755)
    (repo / "a.py").write_text("x = 10\n")
    config_before = (repo / ".git" / "config").read_text()
    approver = Approver()
    try:
        ok, text = await tools(repo, approver).commit("c", "with hook", ["a.py"])
        assert not outside.exists()
    finally:
        outside.unlink(missing_ok=True)
    assert approver.requests[0].hooks == ("pre-commit",)
    assert ok, text
    assert "hook ran" in text and "outside write failed" in text
    assert "hooks ran in the sandbox: pre-commit" in text
    assert (repo / ".git" / "config").read_text() == config_before
    # A hook that fails stops the commit, and the model hears why.
    hook.write_text(HOOK.format(outside=outside, code=1))
    (repo / "a.py").write_text("x = 11\n")
    ok, text = await tools(repo, Approver()).commit("c", "blocked", ["a.py"])
    assert not ok and "nothing was committed" in text and "hook ran" in text
    assert git(repo, "log", "-1", "--format=%s").strip() == "with hook"


async def test_read_only_commands_run_no_hook_and_write_nothing(repo: Path) -> None:
    marker = repo / "hook-ran"
    for name in ("post-index-change", "reference-transaction"):
        hook = repo / ".git" / "hooks" / name
        hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
        hook.chmod(0o755)
    (repo / "a.py").write_text("x = 10\n")
    index = (repo / ".git" / "index").read_bytes()
    t = tools(repo)
    await t.status()
    await t.diff()
    await t.log()
    assert not marker.exists()
    assert (repo / ".git" / "index").read_bytes() == index


async def test_files_changed_during_review_are_not_committed(repo: Path) -> None:
    (repo / "a.py").write_text("x = 10\n")

    class Meddler(Approver):
        async def __call__(self, request: CommitRequest) -> CommitAnswer:
            (repo / "a.py").write_text("x = 99\n")
            return CommitAnswer()

    with pytest.raises(ToolError, match="changed while the user was reviewing"):
        await tools(repo, Meddler()).commit("c", "m", ["a.py"])
    assert git(repo, "log", "--format=%s").strip() == "first"


async def test_auto_commit_message_and_trailer(repo: Path) -> None:
    (repo / "a.py").write_text("x = 10\n")
    text = await tools(repo).auto_commit(["a.py"], ["a.py: applied 1 hunk"])
    assert text.startswith("committed ")
    body = git(repo, "log", "-1", "--format=%B")
    assert body.startswith("kimitui: edit a.py") and body.rstrip().endswith(TRAILER)


def test_parse_head_counts_renames_once() -> None:
    out = "\0".join(
        ["# branch.oid abc", "# branch.head main", "2 R. N... 1 2 3 4 5 R100 new", "old", "? x"]
    )
    assert parse_head(out + "\0") == parse_head(out) and parse_head(out).dirty == 2
