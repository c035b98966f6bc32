"""The review view on a 10,000-line file with 200 changed hunks (``--approve ask``)."""

from __future__ import annotations

import importlib.util
import statistics
import time

from kimitui.bench.harness import BenchError, Config, launch, serving, temp_project, wait_until
from kimitui.bench.ptyapp import PtyApp
from kimitui.bench.report import Row, Target
from kimitui.demo.script import ToolCallSpec, Turn

PAGE_DOWN = b"\x1b[6~"
TARGET_NAME = "big_module.py"
# Pieces (~4 characters each) per SSE chunk. The target row sends the edit's
# 200 KB of arguments in ~4 KB chunks, so it times the diff and the view; the
# info row sends them token-sized (~30 characters a chunk, 7,500 chunks), which
# adds the SDK parsing a burst (the burst case's subject).
BIG_CHUNKS = 1_000


def _files(lines: int, hunks: int) -> tuple[str, str]:
    old = [f"value_{i:05} = {i}\n" for i in range(lines)]
    new = list(old)
    gap = lines // hunks
    for k in range(hunks):
        i = gap // 2 + k * gap
        new[i] = f"value_{i:05} = {i} + 1  # REVIEWED\n"
    return "".join(old), "".join(new)


def review_case(cfg: Config) -> list[Row]:
    lines, hunks = cfg.size((10_000, 200), (400, 8))
    opened = Row(f"review {lines:,} lines / {hunks} hunks: view open", "ms")
    opened.target = Target("<=", 200)
    scroll = Row("review: page scroll (key → first repaint)", "ms", target=Target("<=", 16))
    tokenwise = Row("review: view open, arguments in token-sized chunks", "ms")
    if importlib.util.find_spec("kimitui.tui.review") is None:
        opened.note = scroll.note = "n/a (review view not present)"
        return [opened, scroll]
    texts = _files(lines, hunks)
    for _ in range(cfg.repeat):
        open_ms, scrolls = _review_run(*texts, pages=cfg.size(10, 3), batch=BIG_CHUNKS)
        opened.add(open_ms)
        scroll.add(statistics.median(scrolls))
        tokenwise.add(_review_run(*texts, pages=0)[0])
    return [opened, scroll, tokenwise]


def _review_run(
    old: str, new: str, pages: int, batch: int | None = None
) -> tuple[float, list[float]]:
    call = ToolCallSpec("write_file", {"path": TARGET_NAME, "content": new})
    turns = [Turn(reasoning="Rewriting it.", tool_calls=(call,)), Turn(content="Done.")]
    chunking = {"unpaced_batch": batch} if batch else {}
    with (
        temp_project({TARGET_NAME: old}) as project,
        serving(turns, **chunking) as (server, url),
        launch(project, url, "--approve", "ask") as app,
    ):
        shown = app.watch("REVIEWED")
        last_byte = wait_until(lambda: server.served >= 1, 120, "the proposed edit")
        at = shown.wait(30)
        if at is None:
            raise BenchError("the review view never showed the diff")
        if pages:
            time.sleep(0.5)
        return 1000.0 * (at - last_byte), [_page_down(app) for _ in range(pages)]


def _page_down(app: PtyApp) -> float:
    """ms from PageDown to the first bytes of the repaint it causes (scrolling may animate)."""
    first = app.watch("")  # any output at all
    sent = time.monotonic()
    app.send(PAGE_DOWN)
    at = first.wait(2.0)
    time.sleep(0.6)  # let the scroll animation finish
    return 2000.0 if at is None else 1000.0 * (at - sent)
