"""The project sandbox: every path the model names is confined to one folder.

Confinement compares *resolved* paths by components (``Path.is_relative_to``),
never by string prefix: a prefix check lets ``/home/me/app`` reach
``/home/me/app2``. Symlinks are followed before the comparison, so a link that
leads out of the project is refused like ``..`` is.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import pathspec

# Files that commonly hold credentials. Gitignore-style globs: a pattern without
# a slash matches the name at any depth, and a matching folder withholds
# everything inside it.
SECRET_PATTERNS: tuple[str, ...] = (
    ".env*",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    "_netrc",
    "*.p12",
    "*.pfx",
    ".pypirc",
    ".npmrc",
    ".git-credentials",
)
# Any folder named .git, at any depth (nested repositories, submodules under
# .git/modules/*): remote URLs in their config files can carry access tokens.
GIT_DIR = ".git"

# Shown to the model when a file is withheld, so it can tell the user exactly
# what to change. The config file is owned by the CLI; this names its key.
ALLOW_READ_HINT = (
    "To allow it, the user can add the path to `allow_read` under `[tools]` in the "
    "kimitui config file (config.toml in the kimitui config folder), e.g. "
    '[tools] allow_read = ["{path}"].'
)


class SandboxError(Exception):
    """A path the model may not use; ``str(e)`` is written to be shown to the model."""


def _spec(patterns: Sequence[str]) -> pathspec.GitIgnoreSpec:
    # Case-folded on every OS: on a case-insensitive disk `.ENV` opens `.env`, and
    # on any disk `SERVER.PEM` holds a key as surely as `server.pem` does.
    return pathspec.GitIgnoreSpec.from_lines([p.casefold() for p in patterns])


def special_kind(mode: int) -> str | None:
    """What a non-regular, non-folder file is ("FIFO", ...), None for files and folders.

    Opening a FIFO blocks until someone writes to it, and a device can stream
    forever: no tool ever opens one.
    """
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def special_file(path: Path) -> str | None:
    """:func:`special_kind` of ``path`` after following links; None if it does not exist."""
    try:
        return special_kind(path.stat().st_mode)
    except (OSError, ValueError):
        return None


class Workspace:
    """One project folder: path confinement, read/write policy and atomic writes."""

    def __init__(
        self,
        root: Path | str,
        *,
        deny_read: Sequence[str] = (),
        deny_write: Sequence[str] = (),
        allow_read: Sequence[str] = (),
    ) -> None:
        root_path = Path(root).expanduser()
        if not root_path.is_dir():
            raise SandboxError(f"project folder {str(root)!r} does not exist or is not a folder")
        self.root: Path = root_path.resolve(strict=True)
        self.read_paths: set[str] = set()
        self._secret = _spec([*SECRET_PATTERNS, *deny_read])
        self._allow = _spec(allow_read)
        self._deny_write = _spec(deny_write)

    # -- confinement -----------------------------------------------------

    def resolve(self, rel: str) -> Path:
        """Resolve ``rel`` (relative or absolute) to a real path inside the root."""
        if not isinstance(rel, str):
            raise SandboxError(f"path must be a string, got {type(rel).__name__}")
        if "\x00" in rel:
            raise SandboxError("path contains a NUL byte")
        candidate = Path(rel) if os.path.isabs(rel) else self.root / (rel or ".")
        try:
            resolved = candidate.resolve(strict=False)
        except (OSError, RuntimeError, ValueError) as exc:  # symlink loops, bad names
            raise SandboxError(f"cannot resolve path {rel!r}: {exc}") from None
        if not resolved.is_relative_to(self.root):
            raise SandboxError(
                f"path {rel!r} is outside the project folder; "
                "use a path relative to the project root"
            )
        return resolved

    def relpath(self, path: Path) -> str:
        """Posix path of ``path`` relative to the root ("." for the root itself)."""
        path = Path(path)
        if not path.is_absolute():
            path = self.root / path
        return path.relative_to(self.root).as_posix()

    # -- policy ----------------------------------------------------------

    def is_secret(self, rel: str) -> bool:
        """True when ``rel`` (posix, relative) is withheld from the model."""
        if rel in ("", "."):
            return False
        folded = rel.casefold()
        if GIT_DIR in PurePosixPath(folded).parts:
            return True  # never unlocked by allow_read: tokens live in .git/config
        return self._secret.match_file(folded) and not self._allow.match_file(folded)

    def is_write_denied(self, rel: str) -> bool:
        """True when ``rel`` matches ``[tools] deny_write``."""
        return self._deny_write.match_file(rel.casefold())

    def _check_not_secret(self, rel: str, path: Path) -> str:
        """``path``'s relative name; raises when it or the name the model used is withheld."""
        real = self.relpath(path)
        # Check the name the model used as well as the link target: a link
        # named `.env` or a link pointing at `.env` are both withheld.
        literal = PurePosixPath(rel.replace(os.sep, "/")).as_posix()
        if self.is_secret(real) or (not os.path.isabs(rel) and self.is_secret(literal)):
            raise SandboxError(
                f"{real!r} is withheld: it is a file that commonly holds secrets, so its "
                "contents are never sent to the model. " + ALLOW_READ_HINT.format(path=real)
            )
        return real

    def check_readable(self, rel: str) -> Path:
        path = self.resolve(rel)
        real = self._check_not_secret(rel, path)
        if kind := special_file(path):
            raise SandboxError(f"{real!r} is a {kind}, not a regular file; it is never read")
        return path

    def check_writable(self, rel: str) -> Path:
        path = self.resolve(rel)
        real = self.relpath(path)
        if real == ".":
            raise SandboxError("cannot write the project folder itself; name a file inside it")
        if any(part.casefold() == GIT_DIR for part in PurePosixPath(real).parts):
            raise SandboxError(f"{real!r} is inside .git/, which is never writable")
        # A withheld file is refused with the read message: writing it would show
        # its old content in the review diff, and "unchanged" answers are an oracle.
        self._check_not_secret(rel, path)
        if self.is_write_denied(real):
            raise SandboxError(
                f"{real!r} is protected by `deny_write` under `[tools]` in the kimitui "
                "config and can never be written"
            )
        if path.is_dir():
            raise SandboxError(f"{real!r} is a folder; name a file")
        if kind := special_file(path):
            raise SandboxError(f"{real!r} is a {kind}, not a regular file; it is never written")
        return path

    # -- disk ------------------------------------------------------------

    def read_text(self, rel: str) -> str | None:
        """Exact current content (None if missing).

        ``surrogateescape`` makes the bytes -> str mapping one-to-one, so
        comparing two reads is a byte comparison and a rewrite round-trips
        bytes that are not UTF-8.
        """
        path = self.resolve(rel)
        if kind := special_file(path):
            raise SandboxError(f"{self.relpath(path)!r} is a {kind}, not a regular file")
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return data.decode("utf-8", "surrogateescape")

    def write_atomic(self, rel: str, text: str) -> None:
        """Write ``text`` exactly, via a temp file in the same folder and ``os.replace``."""
        path = self.check_writable(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            mode: int | None = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = None
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.kimitui-tmp")
        # 0o666 is filtered by the umask, like any new file an editor creates.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(text.encode("utf-8", "surrogateescape"))
                fh.flush()
                os.fsync(fh.fileno())
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
