"""Where output goes: rich text for people on stderr, one JSON document for machines on stdout.

`--output json` promises CI exactly one JSON document on stdout and nothing else, so every
command renders through an `Output` rather than printing directly.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


@dataclass
class Output:
    """Renders results for the chosen output format."""

    format: OutputFormat = OutputFormat.TABLE
    verbose: bool = False
    _console: Console | None = field(default=None, repr=False)

    @property
    def json(self) -> bool:
        return self.format is OutputFormat.JSON

    @property
    def console(self) -> Console:
        """A stderr console; built lazily because importing rich costs start-up time."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, highlight=False, soft_wrap=False)
        return self._console

    def info(self, message: str) -> None:
        """A human progress line; silent in JSON mode so stdout stays one document."""
        if not self.json:
            self.console.print(message)

    def debug(self, message: str) -> None:
        if self.verbose:
            self.console.print(f"[dim]{message}[/dim]")

    def emit_json(self, document: Any) -> None:
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")
        sys.stdout.flush()

    def result(self, document: Any, render: Any = None) -> None:
        """Print a command's result: the JSON document, or `render()` for people."""
        if self.json:
            self.emit_json(document)
        elif render is not None:
            render()
