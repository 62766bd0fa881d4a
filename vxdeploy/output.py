"""Where output goes: rich text for people on stderr, one JSON document for machines on stdout.

`--output json` promises CI exactly one JSON document on stdout and nothing else, so every
command renders through an `Output` rather than printing directly.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def esc(value: object) -> str:
    """Text that is not ours (profile values, file names, API messages) made safe for rich
    markup: `'^[a-z]{0,62}$'` must print as written, not lose its `[a-z]` as a style tag."""
    from rich.markup import escape

    return escape(str(value))


# Without a terminal there is no width to fit: lines (resource names, file paths) go out
# whole, as a log or CI reader wants them, instead of broken at rich's default 80 columns.
UNWRAPPED_WIDTH = 10_000


def console_width(environ: Mapping[str, str] | None = None, *, is_terminal: bool | None = None
                  ) -> int | None:
    """`$COLUMNS` when set, the terminal's own width on a terminal (None lets rich ask it),
    else no wrapping at all."""
    environ = os.environ if environ is None else environ
    columns = environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if is_terminal is None:
        is_terminal = sys.stderr.isatty()
    return None if is_terminal else UNWRAPPED_WIDTH


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

            self._console = Console(stderr=True, highlight=False, soft_wrap=False,
                                    width=console_width())
        return self._console

    def info(self, message: str) -> None:
        """A human progress line; silent in JSON mode so stdout stays one document."""
        if not self.json:
            self.console.print(message)

    def debug(self, message: str) -> None:
        if self.verbose:
            self.console.print(f"[dim]{esc(message)}[/dim]")

    def emit_json(self, document: Any) -> None:
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")
        sys.stdout.flush()

    def result(self, document: Any, render: Any = None) -> None:
        """Print a command's result: the JSON document, or `render()` for people."""
        if self.json:
            self.emit_json(document)
        elif render is not None:
            render()
