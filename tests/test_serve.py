"""`kimitui serve`: the real command, a real server, a real browser.

Each test starts `kimitui serve` as a process and checks that it, and every
session it started, is gone afterwards (found by the project's path in their
command lines, tests/proctools.py).

The browser is the distribution's Chromium (/usr/bin/chromium, which .ci/run
installs), driven by Playwright with `executable_path`: Playwright's own
browser downloads are never used. xterm.js paints the terminal on a canvas, so
the test reads the screen from xterm's buffer: an init script keeps a handle
on textual-serve's terminal object as the page creates it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kimitui import serve_cmd
from tests.proctools import running, wait_gone

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# A project name a shell would act on if the session command were not quoted.
HOSTILE_NAME = 'it\'s $(touch PWNED) `touch PWNED2` & co; "x"'
# textual-serve's page builds its terminal object with `this.websocket_url = ...`:
# catching that assignment hands the test the object (and through it, xterm's buffer).
KEEP_TERMINAL = """
Object.defineProperty(Object.prototype, 'websocket_url', {
  configurable: true,
  set(value) {
    window.__kimitui_terminal = this;
    Object.defineProperty(this, 'websocket_url',
      {value: value, writable: true, configurable: true, enumerable: true});
  },
});
"""
READ_SCREEN = """() => {
  const holder = window.__kimitui_terminal;
  if (!holder || !holder.terminal) return '';
  const buffer = holder.terminal.buffer.active;
  const lines = [];
  for (let i = 0; i < buffer.length; i++) {
    const line = buffer.getLine(i);
    lines.push(line ? line.translateToString(true) : '');
  }
  return lines.join('\\n');
}"""
REVIEW_TITLE = re.compile(r"review · (\S+) · (new file|modified)")
ANSI = re.compile(r"\x1b(\[[0-9;?$]*[A-Za-z]|\][^\x07]*\x07)")


def clean_env(state: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "KEY" not in k and not k.startswith("KIMITUI")}
    env.pop("TEXTUAL_DRIVER", None)
    env["KIMITUI_CONFIG"] = "/nonexistent/kimitui-config.toml"
    env["KIMITUI_STATE_DIR"] = str(state)
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A `kimitui serve` expected to end by itself (a refusal)."""
    return subprocess.run(
        [sys.executable, "-m", "kimitui", "serve", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(tmp_path / "state"),
        cwd=tmp_path,
    )


@dataclass
class Served:
    proc: subprocess.Popen[str]
    project: Path
    port: int
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def session_token(self) -> str:
        # A session's argv is `python -m kimitui PROJECT ...`; the server's has `serve`.
        return f"kimitui\0{self.project}\0"

    def text(self) -> str:
        return "".join(self.out) + "".join(self.err)


def _collect(stream, into: list[str]) -> None:
    for line in stream:
        into.append(line)


@contextmanager
def serving(tmp_path: Path, project: Path, *flags: str, **env: str) -> Iterator[Served]:
    """`kimitui serve PROJECT ...` on a free port, stopped by SIGTERM afterwards."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimitui", "serve", str(project), "--port", str(port), *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(tmp_path / "state", **env),
        cwd=tmp_path,
        start_new_session=True,
    )
    served = Served(proc, project.resolve(), port)
    readers = [
        threading.Thread(target=_collect, args=(proc.stdout, served.out), daemon=True),
        threading.Thread(target=_collect, args=(proc.stderr, served.err), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        _wait_listening(served)
        yield served
    finally:
        _stop(served)
        for reader in readers:
            reader.join(timeout=10)


def _wait_listening(served: Served, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(line.startswith(f"kimitui serve: {served.url}") for line in served.out):
            return
        if served.proc.poll() is not None:
            break
        time.sleep(0.05)
    pytest.fail(f"kimitui serve did not start listening:\n{served.text()}")


def _stop(served: Served) -> None:
    """SIGTERM, as Ctrl+C or a service manager would; then nothing of it may be left."""
    proc = served.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        pytest.fail(f"kimitui serve ignored SIGTERM for 30 s:\n{served.text()}")
    gone = wait_gone(str(served.project), seconds=15)
    if not gone:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert gone, f"a process of {served.project} outlived kimitui serve"
    assert code == 0, served.text()


def hostile_project(tmp_path: Path) -> Path:
    return tmp_path / HOSTILE_NAME


def no_shell_ran(tmp_path: Path) -> bool:
    return not any(p.name.startswith("PWNED") for p in tmp_path.rglob("PWNED*"))


# -- a real browser ------------------------------------------------------------------


needs_browser = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no browser here: /usr/bin/chromium is missing (.ci/run installs Debian's "
    "chromium package); test_the_page_and_its_websocket_without_a_browser still checks "
    "the page and the WebSocket handshake",
)


@contextmanager
def browser_page(served: Served) -> Iterator:
    """A Chromium page on the server, its terminal readable; closed (and its session
    ended) on leaving."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            # The page asks Google Fonts for a font: offline here, refused at once.
            page.route("https://fonts.googleapis.com/**", lambda route: route.abort())
            page.add_init_script(KEEP_TERMINAL)
            started = time.monotonic()
            page.goto(served.url)
            _wait_screen(page, lambda s: "approve: ask" in s)
            print(f"app visible {time.monotonic() - started:.2f} s after the page was asked for")
            yield page
        finally:
            browser.close()
    # The page is gone: its session ends; the server stays for the next page.
    assert wait_gone(served.session_token, seconds=20), "the session outlived its page"
    assert served.proc.poll() is None


def type_message(page, text: str) -> None:
    page.focus(".xterm-helper-textarea")
    page.keyboard.press("Control+l")  # to the composer, whatever has the focus
    page.keyboard.type(text)
    page.keyboard.press("Enter")


@needs_browser
def test_a_browser_sees_the_demo_types_a_message_and_approves_the_first_edit(
    tmp_path: Path,
) -> None:
    project = tmp_path / "demo"
    with serving(tmp_path, project, "--demo") as served, browser_page(served) as page:
        assert "kimitui · demo" in page.evaluate(READ_SCREEN)
        # The demo starts its own scripted task: what is typed is a message to the model.
        type_message(page, "keep the tests green")
        _wait_screen(page, lambda s: "keep the tests green" in s)

        screen = _open_review(page)
        path = REVIEW_TITLE.search(screen).group(1)
        assert not (project / path).exists()  # a new file, waiting for the verdict
        time.sleep(1.0)  # keys in the gate's first 0.3 s decide nothing (tui/guard.py)
        page.keyboard.press("y")
        _wait_for(lambda: (project / path).is_file(), "the approved edit on disk")
        assert running(served.session_token)


@needs_browser
def test_a_task_typed_in_the_browser_reaches_the_model(tmp_path: Path) -> None:
    from kimitui.demo import copy_sample, demo_turns
    from kimitui.demo.server import ScriptedServer

    project = tmp_path / "shop"
    copy_sample(project)
    task = "Split app.py into models.py and logic.py, typed in a browser"
    model = ScriptedServer(demo_turns(), api_key="sk-test")
    with (
        model.run_in_thread() as base_url,
        serving(tmp_path, project, "--base-url", base_url, MOONSHOT_API_KEY="sk-test") as served,
        browser_page(served) as page,
    ):
        assert "ready" in page.evaluate(READ_SCREEN).splitlines()[0]
        assert not model.requests  # no task yet: the composer waits for one
        type_message(page, task)
        _open_review(page)
        first = model.requests[0]["messages"]
        assert any(m["role"] == "user" and task in m["content"] for m in first)


def _open_review(page) -> str:
    """The review of the first edit, on screen. One that opens while the user has just
    typed waits behind the composer ("… waits for your review"): ctrl+g brings it up."""
    screen = _wait_screen(
        page, lambda s: REVIEW_TITLE.search(s) is not None or "waits for your review" in s
    )
    if REVIEW_TITLE.search(screen) is None:
        page.keyboard.press("Control+g")
        screen = _wait_screen(page, lambda s: REVIEW_TITLE.search(s) is not None)
    return screen


def _wait_screen(page, predicate, seconds: float = 90) -> str:
    deadline = time.monotonic() + seconds
    screen = ""
    while time.monotonic() < deadline:
        screen = page.evaluate(READ_SCREEN)
        if predicate(screen):
            return screen
        time.sleep(0.1)
    if not page.evaluate("() => Boolean(window.__kimitui_terminal)"):
        pytest.fail("the page never built its terminal object (textual-serve's page changed?)")
    pytest.fail(f"the browser never showed what was expected; its screen:\n{screen}")


def _wait_for(predicate, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


# -- the page and the WebSocket, without a browser ----------------------------------


async def test_the_page_and_its_websocket_without_a_browser(tmp_path: Path) -> None:
    import aiohttp

    project = hostile_project(tmp_path)
    with serving(tmp_path, project, "--demo") as served:
        url = served.url
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/") as page:
                assert page.status == 200
                assert page.content_type == "text/html"
                html = await page.text()
            assert f'data-session-websocket-url="ws://127.0.0.1:{served.port}/ws"' in html
            # The project's name is in the page's title: escaped, never markup.
            assert "it&#39;s $(touch PWNED)" in html and "& co" not in html

            async with http.ws_connect(url + "/ws?width=120&height=40") as ws:
                screen = await _read_until(ws, "approve: ask")
                assert "kimitui · it's $(touch PWNED)" in screen
                await ws.send_json(["ping", "314"])
                assert await _next_text(ws) == '["pong", "314"]'
                assert running(served.session_token)
            # The socket closed: its session ends, the server goes on.
            assert wait_gone(served.session_token, seconds=20)
            assert served.proc.poll() is None
            # A reload: a new session on the same demo copy (not a second copy, which
            # would refuse the folder the first one filled).
            async with http.ws_connect(url + "/ws?width=100&height=30") as ws:
                await _read_until(ws, "approve: ask")
    assert no_shell_ran(tmp_path)


async def _read_until(ws, needle: str, seconds: float = 60) -> str:
    import aiohttp

    screen = ""
    # One deadline for the lot: the server's heartbeat pings restart receive()'s own timeout.
    async with asyncio.timeout(seconds):
        while needle not in screen:
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.BINARY, (message.type, message.data, screen)
            screen += ANSI.sub("", message.data.decode("utf-8", "replace"))
    return screen


async def _next_text(ws) -> str:
    import aiohttp

    async with asyncio.timeout(30):
        while True:
            message = await ws.receive()
            if message.type == aiohttp.WSMsgType.TEXT:
                return message.data
            assert message.type == aiohttp.WSMsgType.BINARY, message.type


async def test_other_sites_and_other_host_names_are_refused(tmp_path: Path) -> None:
    import aiohttp

    with serving(tmp_path, tmp_path / "demo", "--demo") as served:
        url = served.url
        async with aiohttp.ClientSession() as http:
            # Any web page may open ws://127.0.0.1: only this server's own page may here.
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(url + "/ws", headers={"Origin": "https://evil.example"})
            assert refused.value.status == 403
            # DNS rebinding: a foreign name that resolves to 127.0.0.1.
            headers = {"Host": f"evil.example:{served.port}"}
            async with http.get(url + "/", headers=headers) as page:
                assert page.status == 403
                assert "loopback" in await page.text()
            async with http.get(url + "/", headers={"Host": f"localhost:{served.port}"}) as page:
                assert page.status == 200
                assert f"ws://localhost:{served.port}/ws" in await page.text()
        assert not running(served.session_token)  # no refused request started a session


async def test_a_session_that_cannot_start_closes_its_page(tmp_path: Path) -> None:
    import aiohttp

    project = tmp_path / "gone"
    project.mkdir()
    with serving(tmp_path, project, MOONSHOT_API_KEY="sk-test") as served:
        project.rmdir()  # checked when the server started; gone when the page comes
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(served.url + "/ws") as ws,
            asyncio.timeout(60),
        ):
            message = await ws.receive()
            while message.type == aiohttp.WSMsgType.BINARY:
                message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.CLOSE
        # Why it ended is in the server's output, for whoever runs it.
        _wait_for(lambda: "does not exist" in served.text(), "the session's error")
        assert served.proc.poll() is None


# -- flags ----------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_a_host_that_is_not_loopback_needs_public(tmp_path: Path, host: str) -> None:
    proc = serve(tmp_path, str(tmp_path / "demo"), "--demo", "--host", host)
    assert proc.returncode == 2
    assert f"--host {host} is not a loopback address" in proc.stderr
    assert "--public" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "demo").exists()


def test_public_warns_that_the_page_can_change_the_project(tmp_path: Path) -> None:
    import urllib.request

    with serving(tmp_path, tmp_path / "demo", "--demo", "--host", "0.0.0.0", "--public") as s:
        warning = "".join(s.err)
        assert f"WARNING: listening on 0.0.0.0 port {s.port}, not loopback only" in warning
        assert "can drive kimitui on" in warning and "change the project" in warning
        # Reached by another name (as from the LAN): answered, and the page's socket
        # points back at that name.
        request = urllib.request.Request(s.url + "/", headers={"Host": f"devbox.lan:{s.port}"})
        with urllib.request.urlopen(request, timeout=30) as page:
            assert f"ws://devbox.lan:{s.port}/ws" in page.read().decode()


def test_loopback_names_need_no_public() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert serve_cmd.is_loopback(host), host
    for host in ("0.0.0.0", "::", "10.0.0.1", "localhost.example.com", "example.com", ""):
        assert not serve_cmd.is_loopback(host), host


@pytest.mark.parametrize("port", ["0", "65536", "-1", "eighty"])
def test_a_bad_port_is_a_usage_error(tmp_path: Path, port: str) -> None:
    proc = serve(tmp_path, "--demo", "--port", port)
    assert proc.returncode == 2
    assert f"--port: expected a port number from 1 to 65535, got '{port}'" in proc.stderr


def test_a_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = serve(tmp_path, str(tmp_path / "demo"), "--demo", "--port", str(port))
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1 port {port}: the port is in use" in proc.stderr
    assert "--port" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "demo").exists()  # nothing copied for a server that never ran


def test_what_every_session_would_trip_over_is_said_before_serving(tmp_path: Path) -> None:
    missing = serve(tmp_path, str(tmp_path / "nowhere"))
    assert missing.returncode == 2
    assert "project folder" in missing.stderr and "does not exist" in missing.stderr
    no_key = serve(tmp_path, str(tmp_path))
    assert no_key.returncode == 2
    assert "no API key: set MOONSHOT_API_KEY" in no_key.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep me\n")
    full = serve(tmp_path, str(tmp_path / "full"), "--demo")
    assert full.returncode == 2 and "is not empty" in full.stderr
    assert (tmp_path / "full" / "mine.txt").read_text() == "keep me\n"


def test_the_session_command_quotes_every_word(tmp_path: Path) -> None:
    project = hostile_project(tmp_path)
    args = serve_cmd.build_parser().parse_args(
        [str(project), "--demo", "--model", "m; rm -rf ~", "--max-steps", "3"]
    )
    argv = serve_cmd.session_argv(project, args)
    assert argv == [
        sys.executable,
        "-m",
        "kimitui",
        str(project),
        "--demo",
        "--model",
        "m; rm -rf ~",
        "--max-steps",
        "3",
    ]
    assert shlex.split(serve_cmd.session_command(project, args)) == ["exec", *argv]


def test_the_readme_names_every_serve_flag() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## In a browser (`kimitui serve`)\n", 1)[1].split("\n## ", 1)[0]
    for action in serve_cmd.build_parser()._actions:
        for flag in action.option_strings:
            if flag not in ("-h", "--help"):
                assert f"`{flag}" in section, flag
    assert "whoever can open the page can change the project" in section
