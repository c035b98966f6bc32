"""The child's environment: built from an allowlist, then checked by value.

A denylist of names (``*KEY*``, ``*TOKEN*``) lets ``DATABASE_URL``,
``HTTPS_PROXY=http://user:pw@...`` or ``SENTRY_DSN`` through; so nothing is
passed unless named here or in ``[sandbox] pass_env``, and even a named
variable is dropped when its value carries the API key, a value from a
withheld file, or a URL with a password.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

ALLOWED = ("PATH", "LANG", "LANGUAGE", "TERM", "TZ", "COLUMNS", "LINES", "NO_COLOR")
ALLOWED_PREFIXES = ("LC_",)
MIN_SECRET_LEN = 8  # shorter values ("true", "origin") are not worth matching
_URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@", re.IGNORECASE)
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*\s*[=:]\s*(.+?)\s*$")


def secret_values(files: Iterable[Path], extra: Iterable[str] = ()) -> set[str]:
    """Values worth never passing on: from ``KEY=value`` lines of withheld files,
    their whole lines, and ``extra`` (the API key)."""
    values = {v for v in extra if len(v) >= MIN_SECRET_LEN}
    for path in files:
        try:
            if not path.is_file() or path.stat().st_size > 1_000_000:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if line.lstrip().startswith(("#", ";", "[")):
                continue  # comments and section headers hold no secret
            match = _ASSIGNMENT.match(line)
            value = match.group(1).strip("'\"") if match else line.strip()
            if len(value) >= MIN_SECRET_LEN:
                values.add(value)
    return values


def child_env(
    environ: Mapping[str, str],
    *,
    home: str,
    tmp: str,
    pass_env: Iterable[str] = (),
    secrets: Iterable[str] = (),
    venv: str | None = None,
) -> tuple[dict[str, str], list[str]]:
    """The environment for a sandboxed program, and the names dropped by value."""
    wanted = {*ALLOWED, *pass_env}
    env = {
        name: value
        for name, value in environ.items()
        if name in wanted or name.startswith(ALLOWED_PREFIXES)
    }
    dropped = sorted(name for name, value in env.items() if leaks(value, secrets))
    for name in dropped:
        del env[name]
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    # Colour off: escape codes would fill the tail the model reads.
    env.update(HOME=home, TMPDIR=tmp, PYTHONDONTWRITEBYTECODE="1", NO_COLOR="1", PY_COLORS="0")
    if venv:
        env["VIRTUAL_ENV"] = venv
        env["PATH"] = f"{venv}/bin:{env['PATH']}"
    return env, dropped


def leaks(value: str, secrets: Iterable[str]) -> bool:
    if _URL_PASSWORD.search(value):
        return True
    return any(secret in value for secret in secrets)
