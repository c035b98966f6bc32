"""run_tests end to end: arguments checked, the run confined, the result summed up.

Every run goes through :class:`kimitui.sandbox.Sandbox`. Where this machine
gives no confinement, a run still needs a yes: the gate asks in ``ask`` (the
command is shown), ``auto`` runs it, and ``never`` never does, since an
unconfined program could change the project.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kimitui.sandbox import Policy, Sandbox, home_secrets, scan_protected
from kimitui.sandbox.env import secret_values
from kimitui.tools import testing
from kimitui.tools.errors import ToolError
from kimitui.tools.testargs import check_args, is_pytest
from kimitui.tools.workspace import Workspace


@dataclass(frozen=True)
class RunRequest:
    """A program the model wants to run, as the gate shows it."""

    call_id: str
    tool: str
    command: tuple[str, ...]
    cwd: str
    sandbox: str  # the level it would run under ("none": unconfined)


# None: go ahead; a string: refused, and why (the user's feedback).
RunApprover = Callable[[RunRequest], Awaitable[str | None]]

UNCONFINED_NEVER = (
    "run_tests did not run: this machine gives kimitui no sandbox ({detail}), and with "
    "--approve never nothing may change the project. Run `kimitui doctor` to see why, "
    "or describe what you would check instead."
)


class TestRunner:
    """The project's test command, run for the model."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(
        self,
        workspace: Workspace,
        sandbox: Sandbox,
        *,
        command: Sequence[str] | None,
        timeout: float,
        allow_args: bool = False,
        read_only: bool = False,
        approve: RunApprover | None = None,
        api_key_env: str | None = None,
    ) -> None:
        self.workspace = workspace
        self.sandbox = sandbox
        self.command = list(command) if command else None
        self.timeout = timeout
        self.allow_args = allow_args
        self.read_only = read_only
        self.approve = approve
        self.api_key_env = api_key_env

    async def run(self, call_id: str, args: Sequence[str]) -> tuple[bool, str]:
        root = self.workspace.root
        command = [*(self.command or testing.default_command(root)), *self._checked(args)]
        level = self.sandbox.level
        if not level.confined:
            await self._ask_unconfined(call_id, command, level.detail)
        if not _runnable(command[0]):
            raise ToolError(
                f"could not start the test command {command[0]!r}: not found or not executable; "
                "set [tools] test_command in the kimitui config"
            )
        policy = self._policy()
        secrets = self._secrets(policy)
        try:
            run = await self.sandbox.run(
                command, policy, self.timeout, secrets=secrets, venv=_venv_of(root)
            )
        except OSError as exc:
            raise ToolError(f"could not start the test command {command[0]!r}: {exc}") from None
        # Where the mechanism cannot hide withheld files (Landlock, none), a test
        # that prints one still must not hand its values to the model.
        text = redact(testing.summarize(run, root), secrets)
        if run.dropped_env:
            names = ", ".join(run.dropped_env)
            text += f"\n(not passed to the tests: {names}, whose values hold credentials)"
        return run.ok, text

    def _checked(self, args: Sequence[str]) -> list[str]:
        if any("\x00" in a for a in args):
            raise ToolError("run_tests: arguments must not contain NUL bytes")
        if not args:
            return []
        if self.command is None or is_pytest(self.command):
            return check_args(args, self.workspace.resolve)
        if not self.allow_args:
            raise ToolError(
                "run_tests: the configured test command takes no arguments from the model; "
                "call run_tests without args (the user can allow them with "
                "[tools] test_args = true)"
            )
        return list(args)

    async def _ask_unconfined(self, call_id: str, command: list[str], detail: str) -> None:
        if self.read_only:
            raise ToolError(UNCONFINED_NEVER.format(detail=detail))
        if self.approve is None:
            return
        request = RunRequest(call_id, "run_tests", tuple(command), str(self.workspace.root), "none")
        refusal = await self.approve(request)
        if refusal is not None:
            raise ToolError(f"the user did not let run_tests run: {refusal}")

    def _policy(self) -> Policy:
        ws = self.workspace
        root = ws.root
        protected = scan_protected(root, ws.is_secret, ws.is_write_denied)
        hidden = tuple(p for p in home_secrets() if not root.is_relative_to(p))
        return Policy(root=root, writable=not self.read_only, protected=protected, hidden=hidden)

    def _secrets(self, policy: Policy) -> set[str]:
        key = os.environ.get(self.api_key_env or "", "")
        return secret_values(policy.protected.secrets, [key])


WITHHELD = "[withheld]"


def redact(text: str, secrets: set[str]) -> str:
    for value in sorted(secrets, key=len, reverse=True):
        text = text.replace(value, WITHHELD)
    return text


def _runnable(program: str) -> bool:
    if os.sep in program:
        return os.access(program, os.X_OK) and os.path.isfile(program)
    return shutil.which(program) is not None


def _venv_of(root: Path) -> str | None:
    python = Path(testing.project_python(root))
    return str(python.parent.parent) if python.is_relative_to(root) else None
