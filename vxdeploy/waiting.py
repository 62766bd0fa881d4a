"""Telling people what a long wait is waiting for, and for how long.

A deploy that waits minutes behind a static line looks hung. Every long wait (an
operation, the emulator starting, a model not serving yet) goes through `waiting()`:
on a terminal a spinner with the elapsed time and what is awaited (rich's status, on
stderr); without one, or with `--output json`, one plain stderr line when the wait starts,
one per change of state, and one when it ends, so CI logs show the story without control
characters. Nothing is shown until the CLI calls `configure()`: library callers and tests
stay silent.

Standard library at import (rich is loaded only for a terminal): the emulator's control
module uses it on the CLI's start-up path.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO


@dataclass
class _Config:
    json_output: bool
    stream: TextIO | None  # None: whatever sys.stderr is when a wait starts

    def resolve(self) -> tuple[bool, TextIO]:
        """(interactive, stream), read at each wait: tests and embedders swap sys.stderr,
        and a stream captured once may be closed by the time a later wait writes to it."""
        out = self.stream if self.stream is not None else sys.stderr
        interactive = not self.json_output and bool(getattr(out, "isatty", lambda: False)())
        return interactive, out


_config: _Config | None = None


def configure(*, json_output: bool, stream: TextIO | None = None) -> None:
    """Turn the waiting UI on for this process (the CLI does, once, at start)."""
    global _config
    _config = _Config(json_output=json_output, stream=stream)


def disable() -> None:
    global _config
    _config = None


def _elapsed(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds < 60 else f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


QUIET_S = 0.5  # a wait shorter than this shows nothing: instant operations stay silent


@contextmanager
def waiting(what: str, why: str = "") -> Iterator[Callable[[str], None]]:
    """Show that `what` is being awaited (and `why`, on the first line); yields
    `update(state)` for changes of state. Waits under QUIET_S show nothing."""
    config = _config
    if config is None:
        yield lambda _state: None
        return
    interactive, stream = config.resolve()
    if interactive:
        with _spinner(what, why, stream) as redraw:
            yield redraw
        return
    started = time.monotonic()
    lock = threading.Lock()
    shown = False
    pending = ""

    def state_line(state: str) -> None:
        _line(stream, f"  {what}: {state} ({_elapsed(time.monotonic() - started)})")

    def show_start() -> None:
        nonlocal shown
        with lock:
            if not shown:
                shown = True
                _line(stream, f"waiting: {what}{f': {why}' if why else ''}")
                if pending:
                    state_line(pending)

    def update(state: str) -> None:
        nonlocal pending
        if not state or state == pending:
            return
        pending = state
        if shown:
            state_line(state)
        else:
            show_start()

    timer = threading.Timer(QUIET_S, show_start)
    timer.daemon = True
    timer.start()
    ok = False
    try:
        yield update
        ok = True
    finally:
        timer.cancel()
        with lock:
            if shown:
                outcome = "done" if ok else "stopped"
                _line(stream,
                      f"{outcome}: {what} after {_elapsed(time.monotonic() - started)}")
            shown = True  # a late timer must not print a start line after the end


def _line(stream: TextIO, text: str) -> None:
    stream.write(text + "\n")
    stream.flush()


@contextmanager
def _spinner(what: str, why: str, stream: TextIO) -> Iterator[Callable[[str], None]]:
    from rich.console import Console
    from rich.markup import escape

    console = Console(file=stream, highlight=False)
    started = time.monotonic()
    state = {"text": why}
    stop = threading.Event()

    def text() -> str:
        detail = f" — {escape(state['text'])}" if state["text"] else ""
        return (f"{escape(what)}{detail} [dim]({_elapsed(time.monotonic() - started)})[/dim]")

    status: Any = console.status(text())
    with status:
        def tick() -> None:
            while not stop.wait(0.5):
                status.update(text())

        ticker = threading.Thread(target=tick, name="waiting-ticker", daemon=True)
        ticker.start()

        def update(new: str) -> None:
            state["text"] = new
            status.update(text())

        try:
            yield update
        finally:
            stop.set()
            ticker.join(1)
    took = time.monotonic() - started
    if took >= QUIET_S:
        console.print(f"[dim]{escape(what)}: {_elapsed(took)}[/dim]")
