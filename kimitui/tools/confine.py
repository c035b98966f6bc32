"""What run_tests and run_command share: the sandbox policy for the project,
the secret values to keep out of output, and the gate's view of a run.

Every program started for the model goes through :class:`kimitui.sandbox.Sandbox`
with a :class:`Policy` built here, and its output through :func:`redact`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from kimitui.sandbox import Policy, home_secrets, scan_protected
from kimitui.sandbox.env import secret_values
from kimitui.tools import testing
from kimitui.tools.workspace import Workspace

WITHHELD = "[withheld]"


@dataclass(frozen=True)
class RunRequest:
    """A program the model wants to run, as the gate shows it."""

    call_id: str
    tool: str
    command: tuple[str, ...]
    cwd: str
    sandbox: str  # the level it would run under ("none": unconfined)
    # run_command only: the line as the model wrote it, and what the check found.
    line: str = ""
    flags: tuple[str, ...] = ()  # destructive forms, with the paths they touch
    allowed: bool = False  # every program covered by [commands] allow, nothing flagged
    outside: bool = False  # a flagged path may be outside the project
    prefix: tuple[str, ...] = ()  # what "always allow this" would add
    why_asked: tuple[str, ...] = ()  # why the allow-list does not cover it


# None: go ahead; a string: refused, and why (the user's feedback).
RunApprover = Callable[[RunRequest], Awaitable[str | None]]


def project_policy(workspace: Workspace, *, read_only: bool) -> Policy:
    """The project writable (unless read-only), minus .git, secrets and deny_write."""
    root = workspace.root
    protected = scan_protected(root, workspace.is_secret, workspace.is_write_denied)
    hidden = tuple(p for p in home_secrets() if not root.is_relative_to(p))
    return Policy(root=root, writable=not read_only, protected=protected, hidden=hidden)


def run_secrets(policy: Policy, api_key_env: str | None) -> set[str]:
    """Values that must never reach the model: withheld files' and the API key."""
    key = os.environ.get(api_key_env or "", "")
    return secret_values(policy.protected.secrets, [key])


def redact(text: str, secrets: set[str]) -> str:
    for value in sorted(secrets, key=len, reverse=True):
        text = text.replace(value, WITHHELD)
    return text


def runnable(program: str) -> bool:
    if os.sep in program:
        return os.access(program, os.X_OK) and os.path.isfile(program)
    return shutil.which(program) is not None


def venv_of(root: Path) -> str | None:
    """The project's own virtualenv, put first on PATH inside the sandbox."""
    python = Path(testing.project_python(root))
    return str(python.parent.parent) if python.is_relative_to(root) else None
