"""run_command end to end: parsed and judged, decided at the gate, checkpointed,
run as ``/bin/sh -c COMMAND`` inside the sandbox, summed up for the model.

Nothing here starts a program except :meth:`Sandbox.run`, and nothing runs
without the gate's answer: the gate sees the parsed check (allow-list, flags,
paths outside the project) and says run or refuse. The line itself goes to
``sh`` unchanged; the parse is only ever used to decide, never to rebuild it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from kimitui.sandbox import Sandbox
from kimitui.tools.commands import CommandCheck, CommandPolicy, ParseError, check_command
from kimitui.tools.confine import (
    RunApprover,
    RunRequest,
    project_policy,
    redact,
    run_secrets,
    venv_of,
)
from kimitui.tools.errors import ToolError
from kimitui.tools.limits import tail_text
from kimitui.tools.workspace import Workspace

SHELL = "/bin/sh"
TAIL_CHARS = 6_000
DEFAULT_TIMEOUT = 120.0

NEVER_COMMANDS = (
    "run_command did not run: kimitui is running with --approve never, so no command "
    "runs. Say what you would run and why instead."
)


class CommandObserver(Protocol):
    """Hears what run_command does; the Agent's wiring turns these into events."""

    def command(self, call_id: str, command: str, cwd: str, flags: list[str]) -> None: ...

    def output(self, call_id: str, text: str) -> None: ...

    def result(
        self, call_id: str, exit_code: int | None, output: str, duration_s: float
    ) -> None: ...

    def decision(self, call_id: str, cwd: str, approved: bool, feedback: str, by: str) -> None: ...


class _Silent:
    def command(self, call_id: str, command: str, cwd: str, flags: list[str]) -> None:
        pass

    def output(self, call_id: str, text: str) -> None:
        pass

    def result(self, call_id: str, exit_code: int | None, output: str, duration_s: float) -> None:
        pass

    def decision(self, call_id: str, cwd: str, approved: bool, feedback: str, by: str) -> None:
        pass


# Called before and after a command that may change files: checkpoints.
ChangeHook = Callable[[], Awaitable[None]]


class CommandRunner:
    """The model's shell, one command at a time."""

    def __init__(
        self,
        workspace: Workspace,
        sandbox: Sandbox,
        *,
        policy: CommandPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        read_only: bool = False,
        approve: RunApprover | None = None,
        api_key_env: str | None = None,
    ) -> None:
        self.workspace = workspace
        self.sandbox = sandbox
        self.policy = policy or CommandPolicy()
        self.timeout = timeout  # the default and the cap of timeout_s
        self.read_only = read_only
        self.approve = approve
        self.api_key_env = api_key_env
        self.observer: CommandObserver = _Silent()
        # Who answers what the allow-list does not cover: "user" when the gate asks
        # someone (TUI, ACP client), "headless" when it refuses for want of anyone.
        self.asker = "user"
        self.before_change: ChangeHook | None = None
        self.after_change: ChangeHook | None = None

    def allow_for_session(self, prefix: tuple[str, ...]) -> None:
        """ "Always allow this": the prefix joins the allow-list until the session ends."""
        self.policy = self.policy.with_allowed(prefix)

    def check(self, command: str) -> CommandCheck:
        try:
            return check_command(command, self.workspace.root, self.policy)
        except ParseError as exc:
            raise ToolError(
                f"run_command cannot read this command safely: {exc}. "
                "Write it as plain commands joined by ;, && or |"
            ) from None

    async def run(self, call_id: str, command: str, timeout_s: int | None) -> tuple[bool, str]:
        check = self.check(command)
        root = str(self.workspace.root)
        self.observer.command(call_id, command, root, check.flag_lines())
        if check.denied_by is not None:
            entry, program = check.denied_by
            refusal = (
                f"run_command refused: `{program}` is denied by [commands] deny "
                f"({' '.join(entry)!r}); the user does not want it run. Do it another way."
            )
            self._decided(call_id, refusal, "deny")
        if self.read_only:
            self._decided(call_id, NEVER_COMMANDS, "never")
        await self._ask(call_id, check)
        timeout, note = self._timeout(timeout_s)
        if self.before_change is not None:
            await self.before_change()
        try:
            exit_code, text = await self._run(call_id, command, timeout)
        finally:
            if self.after_change is not None:
                await self.after_change()
        return exit_code == 0, note + text

    def _decided(self, call_id: str, refusal: str | None, by: str, prefix: str = "") -> None:
        """Report the gate's answer; a refusal ends the call with the reason."""
        root = str(self.workspace.root)
        self.observer.decision(call_id, root, refusal is None, refusal or "", by)
        if refusal is not None:
            raise ToolError(prefix + refusal)

    async def _ask(self, call_id: str, check: CommandCheck) -> None:
        if self.approve is None:
            self._decided(call_id, None, "allow-list" if check.allowed else "auto")
            return
        request = RunRequest(
            call_id,
            "run_command",
            (SHELL, "-c", check.command),
            str(self.workspace.root),
            self.sandbox.level.name,
            line=check.command,
            flags=tuple(check.flag_lines()),
            allowed=check.allowed,
            outside=check.outside,
            prefix=check.suggested_prefix() or (),
            why_asked=tuple(check.notes),
        )
        refusal = await self.approve(request)
        by = "allow-list" if refusal is None and check.allowed else self.asker
        self._decided(call_id, refusal, by, prefix="the command did not run: ")

    def _timeout(self, timeout_s: int | None) -> tuple[float, str]:
        if timeout_s is None:
            return self.timeout, ""
        if timeout_s <= 0:
            raise ToolError("run_command: timeout_s must be a positive number of seconds")
        if timeout_s > self.timeout:
            return self.timeout, f"(timeout_s {timeout_s} capped to {self.timeout:g} s)\n"
        return float(timeout_s), ""

    async def _run(self, call_id: str, command: str, timeout: float) -> tuple[int | None, str]:
        policy = project_policy(self.workspace, read_only=self.read_only)
        secrets = run_secrets(policy, self.api_key_env)

        def live(chunk: str) -> None:
            with contextlib.suppress(Exception):  # a display problem must not stop the run
                self.observer.output(call_id, redact(chunk, secrets))

        started = time.monotonic()
        try:
            run = await self.sandbox.run(
                [SHELL, "-c", command],
                policy,
                timeout,
                secrets=secrets,
                venv=venv_of(self.workspace.root),
                on_output=live,
            )
        except OSError as exc:
            raise ToolError(f"run_command could not start {SHELL}: {exc}") from None
        output = redact(run.output, secrets)
        tail, dropped = tail_text(output, TAIL_CHARS)
        duration = round(time.monotonic() - started, 3)
        self.observer.result(call_id, run.exit_code, tail, duration)
        if run.timed_out:
            head = (
                f"timed out after {timeout:g} s: the command and everything it started were killed"
            )
        else:
            head = f"exit code {run.exit_code}"
        if dropped:
            head += f"\n--- last {len(tail):,} of {len(output):,} characters ---"
        elif output:
            head += "\n--- output ---"
        else:
            head += " (no output)"
        text = f"{head}\n{tail}" if output else head
        if run.dropped_env:
            text += f"\n(not passed to the command: {', '.join(run.dropped_env)})"
        return run.exit_code, text
