"""The sandbox: confinement by path components, protected paths, secrets, atomic writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kimitui.tools import SandboxError, Workspace


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """tmp/app is the project; tmp/app2 is a sibling sharing its prefix; tmp/outside too."""
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    (app / "src" / "main.py").write_text("print('hi')\n")
    (app / ".git").mkdir()
    (app / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / "app2").mkdir()
    (tmp_path / "app2" / "secret.txt").write_text("sibling\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "f.txt").write_text("outside\n")
    (app / "link_out").symlink_to(tmp_path / "outside")
    (app / "file_link_out").symlink_to(tmp_path / "outside" / "f.txt")
    (app / "git_alias").symlink_to(app / ".git")
    return app


def escapes(root: Path) -> list[str]:
    tmp = root.parent
    return [
        "..",
        "../app2/secret.txt",
        "src/../../app2/secret.txt",
        "./../app",  # out and back in: this names the root itself, so it is allowed
        str(tmp / "app2" / "secret.txt"),  # sibling sharing the root's prefix
        str(tmp / "app2"),
        str(tmp),
        "/etc/passwd",
        "link_out/f.txt",
        "link_out",
        "file_link_out",
        "src/../link_out/../outside/f.txt",
    ]


def test_escape_table(root: Path) -> None:
    ws = Workspace(root)
    refused = []
    for attempt in escapes(root):
        try:
            ws.resolve(attempt)
        except SandboxError as exc:
            refused.append(attempt)
            assert "outside the project folder" in str(exc)
    # "./../app" names the root itself by going out and back in: that one is allowed.
    assert refused == [a for a in escapes(root) if a != "./../app"]
    assert ws.resolve("./../app") == root.resolve()


def test_string_prefix_sibling_is_refused_even_though_it_shares_the_prefix(root: Path) -> None:
    ws = Workspace(root)
    sibling = root.parent / "app2" / "secret.txt"
    assert str(sibling).startswith(str(root))  # the article's check would let this through
    with pytest.raises(SandboxError):
        ws.resolve(str(sibling))
    with pytest.raises(SandboxError):
        ws.check_readable("../app2/secret.txt")


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("src/main.py", "src/main.py"),
        ("src/../src/main.py", "src/main.py"),
        ("./src//main.py", "src/main.py"),
        ("", "."),
        (".", "."),
        ("new/dir/file.txt", "new/dir/file.txt"),
    ],
)
def test_paths_inside_resolve(root: Path, rel: str, expected: str) -> None:
    ws = Workspace(root)
    assert ws.relpath(ws.resolve(rel)) == expected


def test_absolute_path_inside_root_is_accepted(root: Path) -> None:
    ws = Workspace(root)
    assert ws.resolve(str(root / "src" / "main.py")) == root / "src" / "main.py"


def test_nul_byte_and_non_string_are_refused(root: Path) -> None:
    ws = Workspace(root)
    with pytest.raises(SandboxError, match="NUL"):
        ws.resolve("src/\x00main.py")
    with pytest.raises(SandboxError, match="string"):
        ws.resolve(42)  # type: ignore[arg-type]


def test_symlink_loop_is_a_sandbox_error_not_a_crash(root: Path) -> None:
    (root / "loop_a").symlink_to(root / "loop_b")
    (root / "loop_b").symlink_to(root / "loop_a")
    ws = Workspace(root)
    try:
        resolved = ws.resolve("loop_a/x")
    except SandboxError:
        return
    assert resolved.is_relative_to(root)


def test_missing_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="does not exist"):
        Workspace(tmp_path / "missing")


@pytest.mark.parametrize(
    "rel",
    [
        ".git/HEAD",
        ".git/hooks/pre-commit",
        ".git",
        "sub/.git/config",
        ".GIT/config",
        "git_alias/HEAD",
        "src/../.git/new",
    ],
)
def test_git_is_never_writable(root: Path, rel: str) -> None:
    ws = Workspace(root)
    with pytest.raises(SandboxError, match=r"\.git"):
        ws.check_writable(rel)
    with pytest.raises(SandboxError):
        ws.write_atomic(rel, "pwned\n")
    assert (root / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert not (root / ".git" / "new").exists()


def test_deny_write_globs(root: Path) -> None:
    ws = Workspace(root, deny_write=["*.lock", "migrations/"])
    for rel in ("poetry.lock", "sub/uv.lock", "migrations/0001.sql"):
        with pytest.raises(SandboxError, match="deny_write"):
            ws.check_writable(rel)
    assert ws.check_writable("src/main.py") == root / "src" / "main.py"


def test_writing_the_root_or_a_folder_is_refused(root: Path) -> None:
    ws = Workspace(root)
    with pytest.raises(SandboxError):
        ws.check_writable(".")
    with pytest.raises(SandboxError, match="folder"):
        ws.check_writable("src")


SECRETS = [
    ".env",
    ".env.local",
    "config/.env.production",
    "server.pem",
    "tls/site.key",
    "id_rsa",
    "id_rsa.pub",
    "home/.netrc",
    "cert.p12",
    ".git/config",
]
NOT_SECRETS = ["env.py", "environment.md", "keys.py", "src/main.py", "keyboard.txt"]


@pytest.mark.parametrize("rel", SECRETS)
def test_secret_files_are_withheld(root: Path, rel: str) -> None:
    ws = Workspace(root)
    with pytest.raises(SandboxError) as info:
        ws.check_readable(rel)
    message = str(info.value)
    assert "withheld" in message
    assert "allow_read" in message and "[tools]" in message


@pytest.mark.parametrize("rel", NOT_SECRETS)
def test_ordinary_files_are_readable(root: Path, rel: str) -> None:
    assert Workspace(root).check_readable(rel) == root / rel


def test_deny_read_and_allow_read(root: Path) -> None:
    ws = Workspace(root, deny_read=["secrets/", "*.sqlite"], allow_read=[".env.example"])
    for rel in ("secrets/db.txt", "data/app.sqlite"):
        with pytest.raises(SandboxError, match="withheld"):
            ws.check_readable(rel)
    assert ws.check_readable(".env.example") == root / ".env.example"


def test_links_to_and_named_as_secrets_are_withheld(root: Path) -> None:
    (root / ".env").write_text("API_KEY=sk-live\n")
    (root / "innocent.txt").symlink_to(root / ".env")
    (root / "plain.txt").write_text("plain\n")
    (root / ".env.link").symlink_to(root / "plain.txt")
    ws = Workspace(root)
    for rel in ("innocent.txt", ".env.link"):
        with pytest.raises(SandboxError, match="withheld"):
            ws.check_readable(rel)


def test_read_text_exact_and_missing(root: Path) -> None:
    ws = Workspace(root)
    (root / "crlf.txt").write_bytes(b"a\r\nb\r\n")
    (root / "latin.txt").write_bytes(b"caf\xe9\n")
    assert ws.read_text("crlf.txt") == "a\r\nb\r\n"
    assert ws.read_text("missing.txt") is None
    latin = ws.read_text("latin.txt")
    assert latin is not None
    ws.write_atomic("copy.txt", latin)  # surrogate escapes round-trip the raw bytes
    assert (root / "copy.txt").read_bytes() == b"caf\xe9\n"


def test_write_atomic_keeps_mode_and_exact_bytes(root: Path) -> None:
    script = root / "run.sh"
    script.write_text("echo old\n")
    script.chmod(0o750)
    ws = Workspace(root)
    ws.write_atomic("run.sh", "echo new\r\nline two")
    assert stat.S_IMODE(script.stat().st_mode) == 0o750
    assert script.read_bytes() == b"echo new\r\nline two"
    assert sorted(p.name for p in root.iterdir() if "kimitui-tmp" in p.name) == []


def test_write_atomic_new_file_mode_respects_umask_and_makes_parents(root: Path) -> None:
    old = os.umask(0o027)
    try:
        Workspace(root).write_atomic("a/b/c/new.txt", "héllo\n")
    finally:
        os.umask(old)
    target = root / "a" / "b" / "c" / "new.txt"
    assert target.read_text(encoding="utf-8") == "héllo\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_write_atomic_replaces_inode_not_in_place(root: Path) -> None:
    target = root / "src" / "main.py"
    before = target.stat().st_ino
    Workspace(root).write_atomic("src/main.py", "print('bye')\n")
    assert target.stat().st_ino != before  # a new file renamed over: readers never see half
    assert target.read_text() == "print('bye')\n"


def test_write_through_symlink_inside_root_updates_target(root: Path) -> None:
    (root / "alias.py").symlink_to(root / "src" / "main.py")
    Workspace(root).write_atomic("alias.py", "x = 1\n")
    assert (root / "alias.py").is_symlink()
    assert (root / "src" / "main.py").read_text() == "x = 1\n"


def test_write_atomic_refuses_symlink_out(root: Path) -> None:
    with pytest.raises(SandboxError):
        Workspace(root).write_atomic("link_out/f.txt", "pwned\n")
    assert (root.parent / "outside" / "f.txt").read_text() == "outside\n"


# -- property: nothing generated escapes --------------------------------------------

_SEGMENTS = st.sampled_from(
    [
        "..",
        ".",
        "",
        "a",
        "src",
        "app2",
        "link_out",
        "file_link_out",
        "git_alias",
        "...",
        "~",
        "%2e%2e",
        "..\\..",
        " ",
        "app",
        "x\ty",
    ]
)
_PATHS = st.lists(_SEGMENTS, min_size=1, max_size=8).map("/".join)
_ABSOLUTE = _PATHS.map(lambda p: "/" + p)


@pytest.fixture(scope="module")
def hyp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("hyp")
    app = base / "app"
    (app / "src").mkdir(parents=True)
    (base / "app2").mkdir()
    (base / "outside").mkdir()
    (base / "outside" / "f").write_text("x")
    (app / "link_out").symlink_to(base / "outside")
    (app / "file_link_out").symlink_to(base / "outside" / "f")
    (app / "git_alias").symlink_to(base)
    return app


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rel=st.one_of(_PATHS, _ABSOLUTE), anchored=st.booleans())
def test_no_generated_path_resolves_outside_root(hyp_root: Path, rel: str, anchored: bool) -> None:
    ws = Workspace(hyp_root)
    if anchored:  # absolute paths that start inside the root and wander
        rel = str(hyp_root) + "/" + rel
    try:
        resolved = ws.resolve(rel)
    except SandboxError:
        return
    assert resolved.is_relative_to(ws.root)
    assert os.path.realpath(resolved).startswith(str(ws.root) + os.sep) or resolved == ws.root
