"""vxdeploy/output.py: text that is not ours prints as written; no wrapping without a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from vxdeploy.output import UNWRAPPED_WIDTH, console_width, esc


def test_escaped_text_keeps_its_brackets() -> None:
    out = io.StringIO()
    Console(file=out, width=200).print(f"[bold]pattern:[/bold] {esc('^[a-z][a-z0-9-]{0,62}$')}")
    assert out.getvalue().strip() == "pattern: ^[a-z][a-z0-9-]{0,62}$"


def test_width_follows_columns_then_the_terminal_else_none() -> None:
    assert console_width({"COLUMNS": "132"}, is_terminal=False) == 132
    assert console_width({}, is_terminal=True) is None  # rich asks the terminal
    assert console_width({}, is_terminal=False) == UNWRAPPED_WIDTH
    assert console_width({"COLUMNS": "junk"}, is_terminal=False) == UNWRAPPED_WIDTH


def test_a_long_resource_name_is_one_line_without_a_terminal() -> None:
    out = io.StringIO()
    name = "projects/local-project/locations/us-central1/endpoints/" + "x" * 120
    Console(file=out, width=console_width({}, is_terminal=False), soft_wrap=False).print(
        f"[dim]…[/dim] create endpoint {esc(name)}")
    assert out.getvalue() == f"… create endpoint {name}\n"
