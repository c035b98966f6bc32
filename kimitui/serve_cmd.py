"""`kimitui serve`: the TUI in a browser, through textual-serve.

textual-serve starts one `kimitui PROJECT ...` process per page opened and
relays its screen and keys over a WebSocket. Everything a flag could get wrong
is checked here, once, so a mistake shows in the terminal and not as a blank
page. Whoever reaches the page drives kimitui on the project, so the server
binds to loopback unless --public says otherwise, and it answers only pages of
its own origin (a web page elsewhere must not open the WebSocket: browsers let
any site connect to 127.0.0.1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import shlex
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, web
from textual_serve.app_service import AppService
from textual_serve.server import Server
from yarl import URL

from kimitui.cli import (
    DEMO_PROJECT_ENV,
    EXIT_USAGE,
    SETTING_FLAGS,
    UsageError,
    _Parser,
    add_budget_flags,
    copy_demo,
    settings_from_flags,
)

if TYPE_CHECKING:
    Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

EXIT_FAILED = 1
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# A session asked to quit (page closed, server stopped) that is still there after this
# long is killed: a wedged session must not keep the server from stopping.
SESSION_QUIT_S = 5.0
PUBLIC_WARNING = (
    "kimitui serve: WARNING: listening on {host} port {port}, not loopback only: anyone "
    "who can reach it can drive kimitui on {project}, approve its edits and change the project. "
    "There is no password; use --public only on a network you trust."
)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="kimitui serve",
        description="The kimitui TUI in a browser (textual-serve): each page opened starts "
        "its own kimitui session on PROJECT. Bound to loopback unless --public.",
        epilog="The flags after --public mean what they mean for `kimitui PROJECT`, and are "
        "handed to every session.",
    )
    p.add_argument("project", nargs="?", default=None, metavar="PROJECT", help="default: .")
    p.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help="TCP port (default 8000)")
    p.add_argument(
        "--public",
        action="store_true",
        help="allow a --host that is not loopback: whoever reaches the page can change the project",
    )
    # Handed on to every session, checked here with the same types as `kimitui PROJECT`.
    p.add_argument("--demo", action="store_true", help="offline: the scripted model and sample")
    p.add_argument("--model", help="model id")
    p.add_argument("--base-url", dest="base_url", help="OpenAI-compatible endpoint")
    p.add_argument("--api-key-env", dest="api_key_env", metavar="VAR", help="env var of the key")
    add_budget_flags(p, note="per session")
    p.add_argument("--approve", choices=["ask", "auto", "never"], help="edits (default ask)")
    p.add_argument("--theme", help="TUI theme name")
    return p


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {text!r}")
    return value


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and `localhost`; any other name or address is public."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv[1:])
    try:
        _check(args)
        # Bound before the demo's copy: a taken port leaves nothing behind.
        sock = _bind(args.host, args.port)
        project = _demo_project(args) if args.demo else _project(args)
    except UsageError as err:
        print(f"kimitui serve: {_safe(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:
        print(f"kimitui serve: {_safe(str(err))}", file=sys.stderr)
        return EXIT_FAILED
    port = sock.getsockname()[1]
    url = _url(args.host, port)
    loopback = is_loopback(args.host)
    if not loopback:
        warning = PUBLIC_WARNING.format(host=args.host, port=port, project=_safe(str(project)))
        print(warning, file=sys.stderr, flush=True)
    server = KimiServer(session_command(project, args), project=project, url=url, loopback=loopback)
    server.run(sock)
    return 0


def _safe(text: str) -> str:
    from kimitui.core.safetext import safe

    return safe(text)


def _check(args: argparse.Namespace) -> None:
    """What every session would trip over, said once here rather than in each page."""
    if not is_loopback(args.host) and not args.public:
        raise UsageError(
            f"--host {args.host} is not a loopback address: whoever reaches the page can "
            "change the project. Add --public to listen there anyway, or leave --host out "
            "(127.0.0.1)"
        )
    if not args.demo:
        _project(args)
    _check_settings(args)


def _project(args: argparse.Namespace) -> Path:
    project = Path(args.project or ".")
    if not project.is_dir():
        what = "does not exist" if not project.exists() else "is not a folder"
        raise UsageError(f"project folder {project} {what}")
    return project.resolve()


def _demo_project(args: argparse.Namespace) -> Path:
    """The sample, copied once: every page (and every reload) works on the same copy."""
    project = copy_demo(args.project)
    os.environ[DEMO_PROJECT_ENV] = str(project)  # the sessions inherit it: no second copy
    print(f"demo project: {_safe(str(project))}", flush=True)
    return project


def _check_settings(args: argparse.Namespace) -> None:
    """A broken config or a missing key: said here, not in every browser tab."""
    settings = settings_from_flags(args)
    if not args.demo and not os.environ.get(settings.api_key_env, "").strip():
        raise UsageError(
            f"no API key: set {settings.api_key_env} (export {settings.api_key_env}=sk-...) "
            "before starting the server, or try --demo"
        )


def session_argv(project: Path, args: argparse.Namespace) -> list[str]:
    """What each page runs: this Python, this kimitui, the project and the flags given."""
    argv = [sys.executable, "-m", "kimitui", str(project)]
    if args.demo:
        argv.append("--demo")
    for name in SETTING_FLAGS:
        value = getattr(args, name)
        if value is not None:
            argv += ["--" + name.replace("_", "-"), str(value)]
    return argv


def session_command(project: Path, args: argparse.Namespace) -> str:
    # textual-serve hands its command to a shell: every word quoted, and `exec` so the
    # shell does not stay between the server and kimitui.
    return "exec " + shlex.join(session_argv(project, args))


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, made before anything is served: a taken port is one line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise UsageError(f"--host {host}: cannot resolve it ({err.strerror})") from err
    family, _, _, _, address = infos[0]
    dual = family == socket.AF_INET6 and address[0] == "::" and socket.has_dualstack_ipv6()
    try:
        return socket.create_server(address, family=family, dualstack_ipv6=dual)
    except OSError as err:
        raise OSError(f"cannot listen on {host} port {port}: {_why(err)}") from err


def _why(err: OSError) -> str:
    import errno

    if err.errno == errno.EADDRINUSE:
        return "the port is in use (another server is running?); pick another with --port"
    if err.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges); try --port 8000"
    if err.errno == errno.EADDRNOTAVAIL:
        return "this machine has no such address; try --host 127.0.0.1"
    return err.strerror or str(err)


def _url(host: str, port: int) -> str:
    """The address to open: an any-address server is reached here through loopback."""
    if host in ("0.0.0.0", "::", "[::]", ""):
        host = "127.0.0.1" if host == "0.0.0.0" or socket.has_dualstack_ipv6() else "::1"
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{shown}:{port}"


class KimiServer(Server):
    """textual-serve's Server, on a socket kimitui bound, answering only its own pages."""

    def __init__(self, command: str, *, project: Path, url: str, loopback: bool) -> None:
        super().__init__(command, title=f"kimitui · {project.name}", public_url=url)
        self.project = project
        self.url = url
        self.loopback = loopback
        self.sessions: dict[web.WebSocketResponse, AppService] = {}

    def run(self, sock: socket.socket) -> None:
        self.initialize_logging()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_exit)
        web.run_app(
            self._make_app(),
            sock=sock,
            handle_signals=False,
            loop=loop,
            print=None,
            shutdown_timeout=5,
        )

    async def _make_app(self) -> web.Application:
        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            problem = _refusal(request, loopback=self.loopback)
            if problem:
                raise web.HTTPForbidden(text=f"kimitui serve: {problem}\n")
            return await handler(request)

        app = await super()._make_app()
        app.middlewares.append(guard)
        return app

    async def handle_index(self, request: web.Request) -> Any:
        # The page names its WebSocket by absolute URL: the one the browser used, so a
        # page reached as http://localhost:8000 or over the LAN connects back the same way.
        # (textual-serve's handler reads public_url before its first await: no other
        # request can change it in between.)
        self.public_url = f"{request.scheme}://{request.host}"
        return await super().handle_index(request)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """One page, one `kimitui` process; kept in `sessions` so shutdown can end them all."""
        websocket = web.WebSocketResponse(heartbeat=15)
        await websocket.prepare(request)
        service = AppService(
            self.command,
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            close=websocket.close,
            download_manager=self.download_manager,
            debug=self.debug,
        )
        self.sessions[websocket] = service
        try:
            await service.start(*_terminal_size(request))
            await _until_either_ends(self._process_messages(websocket, service), service)
        finally:
            del self.sessions[websocket]
            await asyncio.shield(_end(service))
            await websocket.close()
        return websocket

    async def on_shutdown(self, app: web.Application) -> None:
        # Closing a page's socket ends its handler, which ends its session: all at once,
        # not one after another, and before aiohttp starts waiting for handlers.
        closing = [
            ws.close(code=WSCloseCode.GOING_AWAY, message=b"kimitui serve stopped")
            for ws in list(self.sessions)
        ]
        await asyncio.gather(*closing, return_exceptions=True)

    async def on_startup(self, app: web.Application) -> None:
        print(
            f"kimitui serve: {self.url}  (project {_safe(str(self.project))}; each page "
            "opened starts its own session)\nCtrl+C stops the server and every session.",
            flush=True,
        )


def _terminal_size(request: web.Request) -> tuple[int, int]:
    def number(name: str, default: int) -> int:
        try:
            return min(max(int(request.query.get(name, default)), 10), 1000)
        except ValueError:
            return default

    return number("width", 80), number("height", 24)


async def _until_either_ends(messages: Coroutine[Any, Any, None], service: AppService) -> None:
    """The page's messages, until the page leaves or the session ends.

    A session that exits without saying so (it failed to start, it crashed) would
    otherwise leave its page connected to nothing, showing nothing, forever.
    """
    relay = asyncio.ensure_future(messages)
    session = service._task  # textual-serve keeps it private; pinned to 1.1.3
    waiting = {relay} if session is None else {relay, session}
    try:
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay


async def _end(service: AppService) -> None:
    """Asks the session to quit; one that does not within SESSION_QUIT_S is killed."""
    try:
        await asyncio.wait_for(service.stop(), SESSION_QUIT_S)
    except (TimeoutError, OSError):
        process = service._process  # textual-serve keeps it private; pinned to 1.1.3
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()


def _refusal(request: web.Request, *, loopback: bool) -> str | None:
    """Why a request is refused: a foreign Host (DNS rebinding) or Origin (another site)."""
    try:
        asked = URL(f"http://{request.host}")
        host = asked.host or ""
    except ValueError:
        return "malformed Host header"
    if loopback and not is_loopback(host):
        return f"this server answers only to loopback names (127.0.0.1, localhost), not {host}"
    origin = request.headers.get("Origin")
    if request.path == "/ws" and origin is not None:
        try:
            came = URL(origin)
        except ValueError:
            return "malformed Origin header"
        if (came.host, came.port) != (host, asked.port):
            return "the WebSocket opens only from this server's own page"
    return None
