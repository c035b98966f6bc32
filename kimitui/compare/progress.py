"""Live progress on stderr: one line per run (model, repeat, step, tokens, state).

On a terminal the block of lines is redrawn in place, at most ten times a
second; in a pipe or a log each run gets a plain line whenever its step or
state changes, so nothing is overwritten and nothing needs a terminal to read.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from kimitui.compare.runner import Live, RunSpec
from kimitui.core.safetext import safe_line

REDRAW_EVERY_S = 0.1


class Progress:
    def __init__(
        self, specs: Sequence[RunSpec], lives: Sequence[Live], out: TextIO | None = None
    ) -> None:
        self.specs = specs
        self.lives = lives
        self.out = out or sys.stderr
        self.tty = self.out.isatty()
        self._drawn = 0  # lines of the block on screen (terminal)
        self._last_draw = 0.0
        self._said: list[tuple[str, int]] = [("", -1)] * len(specs)  # (state, step) last printed
        self._width = max((len(safe_line(s.label)) for s in specs), default=10)

    def line(self, i: int) -> str:
        spec, live = self.specs[i], self.lives[i]
        return (
            f"{safe_line(spec.label).ljust(self._width)}  #{spec.repeat}  step {live.step:>3}  "
            f"{live.tokens:>9,} tok  {live.elapsed():>6.1f} s  {live.state}"
        )

    def changed(self) -> None:
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw >= REDRAW_EVERY_S:
                self.redraw()
            return
        for i, live in enumerate(self.lives):
            said = (live.state, live.step)
            if said != self._said[i] and live.state != "waiting":
                self._said[i] = said
                self._write(self.line(i) + "\n")

    def redraw(self) -> None:
        self._last_draw = time.monotonic()
        up = f"\x1b[{self._drawn}F" if self._drawn else ""
        body = "".join(f"\x1b[2K{self.line(i)}\n" for i in range(len(self.specs)))
        self._drawn = len(self.specs)
        self._write(up + body)

    async def tick(self) -> None:
        """On a terminal, keep the clocks moving while nothing else changes."""
        while self.tty:
            await asyncio.sleep(REDRAW_EVERY_S * 5)
            self.redraw()

    def close(self) -> None:
        """The final state of every run, however recently the block was drawn."""
        if self.tty:
            self.redraw()
        else:
            self.changed()

    def _write(self, text: str) -> None:
        try:
            self.out.write(text)
            self.out.flush()
        except (BrokenPipeError, ValueError):
            self.tty = False
