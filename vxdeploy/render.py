"""Rendering plans for people: a diff per change and a one-line summary."""

from __future__ import annotations

import json
from typing import Any

from vxdeploy.output import esc
from vxdeploy.plan import Plan

COLOURS = {"+": "green", "~": "yellow", "-": "red"}


def _value(value: Any) -> str:
    if isinstance(value, dict | list):
        return esc(json.dumps(value, sort_keys=True))
    return esc(value)


def render_plan(plan: Plan, console: Any) -> None:
    console.print(f"[bold]Plan[/bold] for profile [cyan]{esc(plan.profile)}[/cyan] → "
                  f"{esc(plan.endpoint)}")
    if plan.empty:
        console.print("[green]No changes.[/green] Live state matches the profile.")
        return
    for change in plan.changes:
        colour = COLOURS[change.symbol]
        console.print(f"\n[{colour}]{change.symbol} {change.action.value}[/{colour}] "
                      f"{esc(change.resource)}")
        console.print(f"    [dim]because {esc(change.reason)}[/dim]")
        before, after = change.before or {}, change.after or {}
        for key in sorted(set(before) | set(after)):
            if key in before and key in after:
                if before[key] != after[key]:
                    console.print(f"    [yellow]~[/yellow] {esc(key)}: {_value(before[key])} → "
                                  f"{_value(after[key])}", highlight=False)
            elif key in after:
                console.print(f"    [green]+[/green] {esc(key)}: {_value(after[key])}",
                              highlight=False)
            else:
                console.print(f"    [red]-[/red] {esc(key)}: {_value(before[key])}",
                              highlight=False)
    counts = plan.summary()
    console.print(f"\n[bold]Plan:[/bold] {counts['add']} to add, {counts['change']} to change, "
                  f"{counts['remove']} to remove.")
