"""run_tests end to end: arguments checked, the run confined, the result summed up.

Every run goes through :class:`kimitui.sandbox.Sandbox`. Where this machine
gives no confinement, a run still needs a yes: the gate asks in ``ask`` (the
command is shown), ``auto`` runs it, and ``never`` never does, since an
unconfined program could change the project.
"""

from __future__ import annotations

from collections.abc import Sequence

from kimitui.sandbox import Policy, Sandbox
from kimitui.tools import testing
from kimitui.tools.confine import (
    WITHHELD,
    RunApprover,
    RunRequest,
    project_policy,
    redact,
    run_secrets,
    runnable,
    venv_of,
)
from kimitui.tools.errors import ToolError
from kimitui.tools.testargs import check_args, is_pytest
from kimitui.tools.workspace import Workspace

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
        if not runnable(command[0]):
            raise ToolError(
                f"could not start the test command {command[0]!r}: not found or not executable; "
                "set [tools] test_command in the kimitui config"
            )
        policy = self._policy()
        secrets = self._secrets(policy)
        try:
            run = await self.sandbox.run(
                command, policy, self.timeout, secrets=secrets, venv=venv_of(root)
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
        return project_policy(self.workspace, read_only=self.read_only)

    def _secrets(self, policy: Policy) -> set[str]:
        return run_secrets(policy, self.api_key_env)


# Kept importable from here: the TUI and the gate name them by this module.
__all__ = ["WITHHELD", "RunApprover", "RunRequest", "TestRunner", "redact"]
