"""The handle the emulator keeps for a started model server."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from vxdeploy.emulator.runtime.logs import tail


class RunningServer(ABC):
    """A model server that answered its health route; the emulator routes to `base_url`.

    `info()` is JSON-serialisable and `adopt(info)` rebuilds the handle, so an emulator
    that restarts can find, check and stop servers its previous life started.
    """

    runtime: str = ""

    def __init__(self, *, key: str, base_url: str, log_path: Path):
        self.key = key
        self.base_url = base_url
        self.log_path = Path(log_path)

    pid: int | None = None
    container_id: str | None = None

    @abstractmethod
    def alive(self) -> bool:
        """Whether the server (process tree or container) is still running."""

    @abstractmethod
    def stop(self, grace_s: float = 10) -> None:
        """Ask it to drain and exit (SIGTERM); force it after `grace_s`. Idempotent."""

    def log_tail(self, lines: int = 50) -> str:
        return tail(self.log_path, lines)

    def info(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "key": self.key,
            "base_url": self.base_url,
            "log_path": str(self.log_path),
            "pid": self.pid,
            "container_id": self.container_id,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key={self.key!r}, base_url={self.base_url!r})"
