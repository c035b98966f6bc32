"""The tools against a hostile repository and a prompt-injected model (issue 14, items 3, 5, 8).

Secrets: withheld names match case-insensitively, ``.git`` at any depth is
withheld, writes are refused with the read message, and no answer reveals a
withheld file's content. Hangs: a backtracking pattern ends with a clear
"search timed out", the search thread stops when cancelled, and the GIL stays
free while it matches. Special files (FIFOs, sockets) are skipped or refused
by every tool and never block.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kimitui.tools import SandboxError, Toolbox, Workspace
from kimitui.tools.search import SearchCancelled, search
from kimitui.tools.workspace import special_kind
from tests.test_tools_search import need_ripgrep

TOKEN = "ghp_planted_token_0123456789"
SECRETS = {
    ".ENV": f"API_TOKEN={TOKEN}\n",
    "ID_RSA": f"-----BEGIN KEY-----{TOKEN}\n",
    "certs/SERVER.PEM": f"{TOKEN}\n",
    "Config/.Env.Local": f"{TOKEN}\n",
    "vendor/lib/.git/config": f'[remote "origin"]\n\turl = https://x:{TOKEN}@github.com/a/b\n',
    ".git/modules/sub/config": f"url = https://x:{TOKEN}@github.com/a/sub\n",
    ".git/config": f"url = https://x:{TOKEN}@github.com/a/top\n",
    "sub/.git": "gitdir: ../.git/modules/sub\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for rel, text in {**SECRETS, "app.py": "print('hi')\n"}.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


# -- secrets ----------------------------------------------------------------------


@pytest.mark.parametrize("rel", sorted(SECRETS))
async def test_withheld_files_cannot_be_read_in_any_case(repo: Path, rel: str) -> None:
    box = Toolbox(Workspace(repo))
    for name in (rel, rel.lower(), rel.upper()):
        result = await box.call("c", "read_file", {"path": name})
        assert not result.ok and "is withheld" in result.output, name
        assert TOKEN not in result.output


@pytest.mark.parametrize("engine", ["python", "ripgrep"])
async def test_search_never_returns_a_line_of_a_withheld_file(repo: Path, engine: str) -> None:
    if engine == "ripgrep":
        need_ripgrep()
    ws = Workspace(repo)
    out = search(ws, "ghp_planted", use_ripgrep=engine == "ripgrep")
    assert out == "no matches for 'ghp_planted'"
    for folder in ("vendor/lib/.git", ".git/modules", ".GIT", "vendor/lib/.GIT/config"):
        with pytest.raises(SandboxError, match="is withheld"):
            search(ws, "ghp_planted", path=folder, use_ripgrep=engine == "ripgrep")


@pytest.mark.parametrize("rel", [".ENV", "ID_RSA", "certs/SERVER.PEM", "Config/.Env.Local"])
async def test_writes_to_withheld_files_are_refused_like_reads(repo: Path, rel: str) -> None:
    box = Toolbox(Workspace(repo))
    read = await box.call("c", "read_file", {"path": rel})
    current = SECRETS[rel]
    attempts = [
        ("write_file", {"path": rel, "content": "overwritten\n"}),
        ("write_file", {"path": rel, "content": current}),  # the "same content" oracle
        ("edit_file", {"path": rel, "old_string": TOKEN, "new_string": "x"}),
        ("edit_file", {"path": rel, "old_string": "not in the file", "new_string": "x"}),
    ]
    for tool, args in attempts:
        result = await box.call("c", tool, args)
        assert not result.ok and result.edit is None
        assert result.output == read.output, (tool, args)  # one message: nothing to compare
    assert (repo / rel).read_text() == current


async def test_a_link_to_a_secret_is_refused_for_writes_too(repo: Path) -> None:
    (repo / "innocent.txt").symlink_to(repo / ".ENV")
    result = await Toolbox(Workspace(repo)).call(
        "c", "write_file", {"path": "innocent.txt", "content": "x"}
    )
    assert not result.ok and "is withheld" in result.output and TOKEN not in result.output
    assert (repo / ".ENV").read_text() == SECRETS[".ENV"]


async def test_listing_marks_secrets_and_refuses_git_folders(repo: Path) -> None:
    box = Toolbox(Workspace(repo))
    listing = (await box.call("c", "list_files", {})).output
    assert (
        ".ENV  [withheld: secret]" in listing and "certs/SERVER.PEM  [withheld: secret]" in listing
    )
    assert ".git" not in listing.replace(".gitignore", "")
    nested = await box.call("c", "list_files", {"path": "vendor/lib/.git"})
    assert not nested.ok and "is withheld" in nested.output


def test_allow_read_unlocks_a_secret_but_never_a_git_folder(repo: Path) -> None:
    ws = Workspace(repo, allow_read=[".env", ".git/config"])
    ws.check_readable(".ENV")  # allowed, case-insensitively
    with pytest.raises(SandboxError, match="is withheld"):
        ws.check_readable(".git/config")


# -- hangs ------------------------------------------------------------------------

BACKTRACKING = r"(=|==)+\1!"  # exponential in a backtracking engine


@pytest.fixture
def equals(tmp_path: Path) -> Path:
    (tmp_path / "rule.txt").write_text("=" * 40 + "\n")
    return tmp_path


async def test_a_backtracking_pattern_answers_search_timed_out(equals: Path) -> None:
    box = Toolbox(Workspace(equals), search_timeout=30)
    result = await box.call("c", "search", {"pattern": BACKTRACKING})
    assert not result.ok
    assert result.output.startswith("error: search timed out (limit 30s) in rule.txt: ")
    assert "nested repetition" in result.output and "narrow the search" in result.output


async def test_the_pattern_from_the_issue_does_not_hang(equals: Path) -> None:
    # The regex module sees that "!" never occurs and answers at once.
    result = await Toolbox(Workspace(equals)).call("c", "search", {"pattern": r"(=+)+\1!"})
    assert result.ok and result.output == "no matches for '(=+)+\\\\1!'"


def _search_threads() -> list[threading.Thread]:
    """Threads now running inside search.py (their frames name the file)."""
    frames = sys._current_frames()
    busy = []
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or -1)
        while frame is not None:
            if frame.f_code.co_filename.endswith(os.path.join("tools", "search.py")):
                busy.append(thread)
                break
            frame = frame.f_back
    return busy


async def until(predicate, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_the_event_loop_runs_while_a_search_matches(tmp_path: Path) -> None:
    """The regex module releases the GIL: the loop (and signal handlers) keep running."""
    (tmp_path / "rules.txt").write_text(("=" * 40 + "\n") * 3)
    box = Toolbox(Workspace(tmp_path), search_timeout=30)
    task = asyncio.create_task(box.call("c", "search", {"pattern": BACKTRACKING}))
    await until(lambda: bool(_search_threads()))
    ticks = 0
    while not task.done():
        await asyncio.sleep(0.005)
        ticks += 1
    assert ticks > 20  # under `re` the loop would not wake until the search ended
    assert "search timed out" in task.result().output


async def test_cancelling_the_tool_call_stops_the_search_thread(tmp_path: Path) -> None:
    (tmp_path / "rules.txt").write_text(("=" * 40 + "\n") * 3)
    box = Toolbox(Workspace(tmp_path), search_timeout=600)
    task = asyncio.create_task(box.call("c", "search", {"pattern": BACKTRACKING}))
    await until(lambda: bool(_search_threads()))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Within one regex call's timeout (about a second), not the search's 600 s.
    await until(lambda: not _search_threads())


def test_a_cancelled_search_raises_search_cancelled(equals: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(SearchCancelled):
        search(Workspace(equals), "=", use_ripgrep=False, cancel=cancel)


def test_ripgrep_is_killed_at_the_deadline(equals: Path) -> None:
    need_ripgrep()
    with pytest.raises(Exception, match=r"search timed out \(limit 0s\) \(ripgrep\)"):
        search(Workspace(equals), "=+", use_ripgrep=True, timeout=0)


# -- special files ----------------------------------------------------------------


@pytest.fixture
def specials() -> Iterator[Path]:
    """A project holding a FIFO and a socket (a short path: socket names are limited)."""
    root = Path(tempfile.mkdtemp(prefix="kt", dir="/tmp"))
    (root / "app.py").write_text("needle = 1\n")
    os.mkfifo(root / "pipe.py")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(root / "sock.py"))
    (root / "link_to_pipe.py").symlink_to(root / "pipe.py")
    with contextlib.suppress(PermissionError):  # a device node needs CAP_MKNOD (root here)
        os.mknod(root / "zero.py", 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # as /dev/zero
    # Should a tool open the FIFO anyway, a writer turns up later and unblocks it,
    # so the test fails on its assertions instead of hanging the run.
    guard = threading.Timer(30, _unblock, args=(root / "pipe.py",))
    guard.daemon = True
    guard.start()
    yield root
    guard.cancel()
    sock.close()
    for child in root.iterdir():
        child.unlink()
    root.rmdir()


def _unblock(fifo: Path) -> None:
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    os.close(fd)


@pytest.mark.parametrize("engine", ["python", "ripgrep"])
async def test_special_files_are_skipped_or_refused_by_every_tool(
    specials: Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine == "ripgrep":
        need_ripgrep()
    else:
        from tests.test_tools_search import without_rg

        without_rg(monkeypatch)
    box = Toolbox(Workspace(specials))
    listing = await box.call("c", "list_files", {})
    assert listing.output.splitlines() == ["app.py", "[1 file in the project]"]
    found = await box.call("c", "search", {"pattern": "needle"})
    assert found.output.splitlines() == ["app.py:1:needle = 1", "[1 matching line in 1 file]"]
    specials_here = [("pipe.py", "FIFO"), ("sock.py", "socket"), ("link_to_pipe.py", "FIFO")]
    if (specials / "zero.py").exists():
        specials_here.append(("zero.py", "device"))  # reading it would never end
    for name, kind in specials_here:
        for tool, args in (
            ("read_file", {}),
            ("search", {"pattern": "x"}),
            ("write_file", {"content": "x"}),
            ("edit_file", {"old_string": "a", "new_string": "b"}),
            ("list_files", {}),
        ):
            result = await box.call("c", tool, {"path": name, **args})
            assert not result.ok, (tool, name, result.output)
            assert f"is a {kind}" in result.output, (tool, name, result.output)
    assert stat.S_ISFIFO(os.lstat(specials / "pipe.py").st_mode)  # nothing replaced it


def test_devices_count_as_special_files() -> None:
    assert special_kind(os.stat("/dev/null").st_mode) == "device"
    assert special_kind(os.stat("/").st_mode) is None


async def test_an_ignore_file_that_is_a_fifo_or_a_device_is_not_read(specials: Path) -> None:
    os.mkfifo(specials / ".gitignore")
    (specials / "sub").mkdir()
    (specials / "sub" / ".gitignore").symlink_to("/dev/zero")
    (specials / "sub" / "b.py").write_text("needle = 2\n")
    box = Toolbox(Workspace(specials))
    listing = await box.call("c", "list_files", {})
    assert listing.output.splitlines() == ["app.py", "sub/b.py", "[2 files in the project]"]
    (specials / "sub" / ".gitignore").unlink()
    (specials / "sub").joinpath("b.py").unlink()
    (specials / "sub").rmdir()
