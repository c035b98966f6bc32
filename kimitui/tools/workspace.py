"""The project sandbox: every path the model names is confined to one folder.

Confinement compares *resolved* paths by components (``Path.is_relative_to``),
never by string prefix: a prefix check lets ``/home/me/app`` reach
``/home/me/app2``. Symlinks are followed before the comparison, so a link that
leads out of the project is refused like ``..`` is.
"""

from __future__ import annotations

import os
import secrets
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
    # remote URLs in .git/config can carry access tokens
    ".git/config",
)

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
    return pathspec.GitIgnoreSpec.from_lines(list(patterns))


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
        return self._secret.match_file(rel) and not self._allow.match_file(rel)

    def is_write_denied(self, rel: str) -> bool:
        """True when ``rel`` matches ``[tools] deny_write``."""
        return self._deny_write.match_file(rel)

    def check_readable(self, rel: str) -> Path:
        path = self.resolve(rel)
        real = self.relpath(path)
        # Check the name the model used as well as the link target: a link
        # named `.env` or a link pointing at `.env` are both withheld.
        literal = PurePosixPath(rel.replace(os.sep, "/")).as_posix()
        if self.is_secret(real) or (not os.path.isabs(rel) and self.is_secret(literal)):
            raise SandboxError(
                f"{real!r} is withheld: it is a file that commonly holds secrets, so its "
                "contents are never sent to the model. " + ALLOW_READ_HINT.format(path=real)
            )
        return path

    def check_writable(self, rel: str) -> Path:
        path = self.resolve(rel)
        real = self.relpath(path)
        if real == ".":
            raise SandboxError("cannot write the project folder itself; name a file inside it")
        if any(part.casefold() == ".git" for part in PurePosixPath(real).parts):
            raise SandboxError(f"{real!r} is inside .git/, which is never writable")
        if self._deny_write.match_file(real):
            raise SandboxError(
                f"{real!r} is protected by `deny_write` under `[tools]` in the kimitui "
                "config and can never be written"
            )
        if path.is_dir():
            raise SandboxError(f"{real!r} is a folder; name a file")
        return path

    # -- disk ------------------------------------------------------------

    def read_text(self, rel: str) -> str | None:
        """Exact current content (None if missing).

        ``surrogateescape`` makes the bytes -> str mapping one-to-one, so
        comparing two reads is a byte comparison and a rewrite round-trips
        bytes that are not UTF-8.
        """
        path = self.resolve(rel)
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
