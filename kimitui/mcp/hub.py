"""Every configured MCP server, connected in the background; their tools as model tools.

Each server lives in its own task, which owns the SDK's transport and session
(anyio scopes must be entered and left by one task): it starts the server,
lists its tools, then waits until it is told to stop or the server goes away.
A stdio server is a program started for the model, so it runs confined: the
sandbox gives the argv and environment, the SDK spawns it in a new session and
ends its whole tree on the way out.

Nothing a server does ends the session: a server that fails to start, hangs
past its ``timeout`` or dies mid-call is reported (an :class:`McpStatus`) and
its tools answer with errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import anyio
import mcp.types as types
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from kimitui import __version__
from kimitui.core.events import McpStatus
from kimitui.core.gate import McpRequest
from kimitui.mcp.config import McpConfigError, ServerConfig, expand, expand_all
from kimitui.mcp.results import render
from kimitui.mcp.schema import sanitise, tool_name
from kimitui.sandbox import Policy, Sandbox

log = logging.getLogger(__name__)

MAX_TOOLS = 128  # per server: each costs context on every model call
MAX_DESCRIPTION = 1_000
MAX_SHOWN_ARGS = 4_000  # characters of arguments the gate shows
STOP_GRACE = 8.0  # the SDK's own shutdown: 2 s for stdin close, 2 s after SIGTERM, reaping

Approver = Callable[[McpRequest], Awaitable[str | None]]
Listener = Callable[[McpStatus], None]


@dataclass(frozen=True)
class McpTool:
    exposed: str  # mcp__SERVER__TOOL
    server: str
    name: str
    read_only: bool
    schema: dict[str, Any]  # the OpenAI tools entry


@dataclass
class ServerRun:
    config: ServerConfig
    status: str = "starting"
    error: str = ""
    tools: list[McpTool] = field(default_factory=list)
    session: ClientSession | None = None
    task: asyncio.Task[None] | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def event(self) -> McpStatus:
        return McpStatus(self.config.name, self.status, len(self.tools), self.error)  # type: ignore[arg-type]


class McpHub:
    """The MCP servers of one session. ``policy`` builds the sandbox rules for a stdio server."""

    def __init__(
        self,
        servers: Sequence[ServerConfig],
        *,
        project: Path,
        sandbox: Sandbox,
        policy: Callable[[], Policy],
        secrets: Callable[[Policy], set[str]] = lambda _: set(),
        read_only: bool = False,
        approve: Approver | None = None,
    ) -> None:
        self.project = project
        self.sandbox = sandbox
        self.policy = policy
        self.secrets = secrets
        self.read_only = read_only
        self.approve = approve
        self.runs = [ServerRun(cfg) for cfg in servers]
        self._listeners: list[Listener] = []
        self._tools: dict[str, McpTool] = {}
        self._started = False
        for run in self.runs:
            if not run.config.enabled:
                run.status, run.error = "disabled", run.config.why_disabled
                run.ready.set()

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Start every enabled server in the background (needs a running event loop)."""
        if self._started:
            return
        self._started = True
        for run in self.runs:
            if run.config.enabled:
                run.task = asyncio.create_task(self._serve(run), name=f"mcp-{run.config.name}")

    async def wait_ready(self) -> None:
        """Until every server is up or has failed; each waits at most its own timeout."""
        self.start()
        await asyncio.gather(*(run.ready.wait() for run in self.runs))

    async def aclose(self) -> None:
        """Stop every server; a stdio server's whole process tree ends with it."""
        tasks = [run.task for run in self.runs if run.task is not None and not run.task.done()]
        for run in self.runs:
            run.stop.set()
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=STOP_GRACE)
        for task in late:  # a shutdown that hangs: cancelling still runs the SDK's kill
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=STOP_GRACE)

    # -- status --------------------------------------------------------------------

    def watch(self, listener: Listener) -> None:
        """Hear every server's state now, then every change."""
        self._listeners.append(listener)
        for run in self.runs:
            listener(run.event())

    def _set(self, run: ServerRun, status: str, error: str = "") -> None:
        run.status, run.error = status, error
        event = run.event()
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("MCP status listener failed")

    # -- tools ---------------------------------------------------------------------

    def schemas(self) -> list[dict[str, Any]]:
        """The tools of the servers that are up, in config order (stable bytes)."""
        return [tool.schema for run in self.runs for tool in run.tools]

    def handles(self, name: str) -> bool:
        return name.startswith("mcp__")

    async def call(self, call_id: str, name: str, args: dict[str, Any]) -> tuple[bool, str]:
        tool = self._tools.get(name)
        if tool is None:
            known = ", ".join(self._tools) or "none"
            return False, f"error: unknown MCP tool {name!r}; the MCP tools now are: {known}"
        run = next(r for r in self.runs if r.config.name == tool.server)
        if run.session is None or run.status != "ready":
            why = f" ({run.error})" if run.error else ""
            return False, f"error: MCP server {tool.server!r} is not running{why}"
        refusal = await self._gate(call_id, tool, run.config, args)
        if refusal is not None:
            return False, refusal
        return await self._call(run, tool, args)

    async def _gate(
        self, call_id: str, tool: McpTool, cfg: ServerConfig, args: dict[str, Any]
    ) -> str | None:
        """None when the call may run; else what the model is told."""
        if tool.read_only:
            return None
        if self.read_only:
            return (
                f"error: not run: {tool.name} of MCP server {tool.server!r} is not marked "
                "read-only, and kimitui is running with --approve never, where only read-only "
                "MCP tools run. Say what you would do with it instead."
            )
        if tool.name in cfg.allow or self.approve is None:
            return None
        shown = json.dumps(args, ensure_ascii=False, indent=2, default=str)
        if len(shown) > MAX_SHOWN_ARGS:
            shown = shown[:MAX_SHOWN_ARGS] + f"\n[... {len(shown) - MAX_SHOWN_ARGS:,} more]"
        refusal = await self.approve(McpRequest(call_id, tool.server, tool.name, shown))
        if refusal is None:
            return None
        return f"error: the user did not let {tool.exposed} run: {refusal}"

    async def _call(self, run: ServerRun, tool: McpTool, args: dict[str, Any]) -> tuple[bool, str]:
        session = run.session
        assert session is not None
        limit = run.config.tool_timeout
        try:
            async with asyncio.timeout(limit + 5):  # in case the SDK's own timeout never fires
                result = await session.call_tool(tool.name, args, read_timeout_seconds=limit)
        except TimeoutError:
            return False, f"error: {tool.exposed} gave no answer in {limit:g} s"
        except Exception as err:  # noqa: BLE001 - anything a server does is a tool error
            text = describe(err)
            if run.task is None or run.task.done() or _is_closed(err):
                self._set(run, "exited", text)
            return False, f"error: {tool.exposed} failed: {text}"
        if not isinstance(result, types.CallToolResult):
            return False, f"error: {tool.exposed} answered with something kimitui cannot use"
        text = render(result)
        return (not result.is_error), (f"error: {text}" if result.is_error else text)

    # -- one server ----------------------------------------------------------------

    async def _serve(self, run: ServerRun) -> None:
        cfg = run.config
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - binary; only its tail is read
        failed = True
        try:
            async with AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(self._transport(cfg, stderr))
                session = await stack.enter_async_context(
                    ClientSession(
                        read,
                        write,
                        list_roots_callback=self._roots,
                        client_info=types.Implementation(name="kimitui", version=__version__),
                    )
                )
                with anyio.fail_after(cfg.timeout):
                    await session.initialize()
                    tools = await _list_tools(session)
                self._register(run, tools)
                run.session = session
                self._set(run, "ready")
                run.ready.set()
                await run.stop.wait()
                failed = False
        except McpConfigError as err:
            self._set(run, "failed", str(err))
        except Exception as err:  # noqa: BLE001 - a broken server must not end the session
            if isinstance(_leaf(err), TimeoutError) and not run.ready.is_set():
                self._set(run, "failed", f"no answer in {cfg.timeout:g} s; stopped")
            else:
                self._set(run, "exited" if run.ready.is_set() else "failed", _why(err, stderr))
        finally:
            run.session = None
            run.ready.set()
            stderr.close()
        if not failed and run.status == "ready":
            self._set(run, "stopped")

    @contextlib.asynccontextmanager
    async def _transport(self, cfg: ServerConfig, stderr: IO[bytes]) -> AsyncIterator[Any]:
        if cfg.url:
            headers = expand_all(cfg.headers)
            client = create_mcp_http_client(headers=headers)
            async with client, streamable_http_client(expand(cfg.url), http_client=client) as pair:
                yield pair
            return
        assert cfg.command is not None
        env = expand_all(cfg.env)
        command = [cfg.command, *cfg.args]
        if cfg.cwd:
            command = ["env", "-C", str(self._cwd(cfg)), "--", *command]
        # Walking the project for protected paths takes a while in a big tree: off the loop.
        policy = await asyncio.to_thread(self.policy)
        sandbox = self.sandbox
        if cfg.network is not None:
            sandbox = replace(sandbox, network=cfg.network)
        level = await asyncio.to_thread(lambda: sandbox.level)
        if not level.confined and self.read_only:
            # Under never the project stays byte-identical; an unconfined program could change it.
            raise McpConfigError(
                f"not started: this machine gives kimitui no sandbox ({level.detail}), and with "
                "--approve never no unconfined program runs"
            )
        with sandbox.confined(command, policy, secrets=self.secrets(policy), extra_env=env) as box:
            params = StdioServerParameters(
                command=box.argv[0], args=box.argv[1:], env=box.env, cwd=str(policy.root)
            )
            async with stdio_client(params, errlog=stderr) as pair:  # type: ignore[arg-type]
                yield pair

    def _cwd(self, cfg: ServerConfig) -> Path:
        folder = (self.project / (cfg.cwd or ".")).resolve()
        if not folder.is_relative_to(self.project.resolve()) or not folder.is_dir():
            raise McpConfigError(f"cwd {cfg.cwd!r} is not a folder inside the project")
        return folder

    async def _roots(self, context: Any) -> types.ListRootsResult:
        """The project folder is the only root offered."""
        root = types.Root(uri=self.project.resolve().as_uri(), name=self.project.name)
        return types.ListRootsResult(roots=[root])

    def _register(self, run: ServerRun, tools: list[types.Tool]) -> None:
        for tool in tools[:MAX_TOOLS]:
            exposed = tool_name(run.config.name, tool.name)
            if exposed in self._tools:
                continue  # two names the same once made API-safe: the first one wins
            hints = tool.annotations
            read_only = bool(hints and hints.read_only_hint and not hints.destructive_hint)
            description = (tool.description or tool.title or tool.name)[:MAX_DESCRIPTION]
            label = "" if read_only else " (asks the user first)"
            entry = McpTool(
                exposed,
                run.config.name,
                tool.name,
                read_only,
                {
                    "type": "function",
                    "function": {
                        "name": exposed,
                        "description": f"[MCP {run.config.name}{label}] {description}",
                        "parameters": sanitise(tool.input_schema),
                    },
                },
            )
            self._tools[exposed] = entry
            run.tools.append(entry)


async def _list_tools(session: ClientSession) -> list[types.Tool]:
    tools: list[types.Tool] = []
    cursor: str | None = None
    while len(tools) < MAX_TOOLS:
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


def _leaf(err: BaseException) -> BaseException:
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    return err


def describe(err: BaseException) -> str:
    leaf = _leaf(err)
    if _is_closed(leaf):
        return "the server closed the connection (exited)"
    text = str(leaf).strip().splitlines()[0] if str(leaf).strip() else ""
    return f"{type(leaf).__name__}: {text}" if text else type(leaf).__name__


def _is_closed(err: BaseException) -> bool:
    leaf = _leaf(err)
    text = str(leaf).lower()
    return isinstance(leaf, anyio.ClosedResourceError | anyio.BrokenResourceError) or (
        text == "connection closed"  # the SDK's MCPError when the transport ends
    )


def _why(err: BaseException, stderr: IO[bytes]) -> str:
    """The error, and the last line the server wrote to stderr (often the real reason)."""
    text = describe(err)
    try:
        stderr.seek(0, 2)
        size = stderr.tell()
        stderr.seek(max(0, size - 2000))
        tail = stderr.read().decode("utf-8", "replace")
        lines = [line.strip() for line in tail.splitlines() if line.strip()]
    except (OSError, ValueError):
        lines = []
    return f"{text} ({lines[-1][:200]})" if lines else text
