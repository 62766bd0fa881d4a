"""Turning the engine's JSON event streams (build, pull, push) into readable lines.

The engine reports a build as text chunks and pushes as a flood of per-layer progress bars.
People want the build steps and their output, and for a push one line per layer when it is
done; the last lines are also kept so a failure can show what led to it.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vxdeploy.output import Output

# A line for people, and whether it starts a new build step (rendered stronger).
Emit = Callable[[str, bool], None]
_DONE_STATUSES = ("Pushed", "Layer already exists", "Mounted from", "Pull complete",
                  "Already exists", "Digest:", "Status:")


def silent(_line: str, _step: bool) -> None:
    """An Emit that drops everything (library callers that want no output)."""


def console_emit(output: Output) -> Emit:
    """Progress on the stderr console: steps in bold, their output dimmed.

    Also in JSON mode: stdout stays one document, and a CI log still shows a long build move.
    """

    def emit(line: str, step: bool) -> None:
        if step:
            output.console.print(f"[bold]{line}[/bold]", markup=True, highlight=False)
        else:
            output.console.print(line, markup=False, highlight=False, style="dim")

    return emit


class EventLog:
    """Feeds engine events to an Emit and remembers what a result or an error needs."""

    def __init__(self, emit: Emit | None = None, keep: int = 30):
        self.emit = emit or silent
        self.tail: collections.deque[str] = collections.deque(maxlen=keep)
        self.image_id: str | None = None
        self.digest: str | None = None
        self.error: str | None = None
        self.step: str = ""
        self._partial = ""

    def feed(self, event: Mapping[str, Any]) -> None:
        if "error" in event or "errorDetail" in event:
            detail = event.get("errorDetail") or {}
            self.error = str(event.get("error") or detail.get("message") or event).strip()
            self.tail.append(self.error)
            return
        aux = event.get("aux")
        if isinstance(aux, Mapping):
            self.image_id = aux.get("ID", self.image_id)
            self.digest = aux.get("Digest", self.digest)
        if "stream" in event:
            self._stream(str(event["stream"]))
        elif "status" in event:
            self._status(event)

    def _stream(self, chunk: str) -> None:
        text = self._partial + chunk
        lines = text.split("\n")
        self._partial = lines.pop()
        for raw in lines:
            line = raw.rstrip("\r").rstrip()
            if not line:
                continue
            is_step = line.startswith("Step ")
            if is_step:
                self.step = line
            if line.startswith("Successfully built ") and self.image_id is None:
                self.image_id = line.split()[-1]
            self.tail.append(line)
            self.emit(line, is_step)

    def _status(self, event: Mapping[str, Any]) -> None:
        status = str(event.get("status", ""))
        if "digest: sha256:" in status and self.digest is None:
            self.digest = "sha256:" + status.split("digest: sha256:", 1)[1].split()[0]
        if not status.startswith(_DONE_STATUSES) and "digest:" not in status:
            return
        layer = event.get("id")
        line = f"{layer}: {status}" if layer else status
        self.tail.append(line)
        self.emit(line, False)

    def flush(self) -> None:
        if self._partial.strip():
            self._stream("\n")

    def tail_text(self, lines: int = 15) -> str:
        return "\n".join(list(self.tail)[-lines:])
