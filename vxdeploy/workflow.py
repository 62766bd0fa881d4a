"""The steps plan, deploy, status and destroy share: load, connect, read, plan."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

from vxdeploy.desired import Desired, desired_state
from vxdeploy.errors import DeclinedError
from vxdeploy.live import LiveState
from vxdeploy.output import Output, esc
from vxdeploy.plan import Plan, compute_plan
from vxdeploy.profile import LoadedProfile
from vxdeploy.vertex.connection import Connection


@dataclass
class Prepared:
    loaded: LoadedProfile
    conn: Connection
    desired: Desired
    live: LiveState
    plan: Plan
    timings: dict[str, float] = field(default_factory=dict)


def prepare(loaded: LoadedProfile, output: Output, *, image: str | None = None,
            build: bool = False, retry_rejected: bool = False) -> Prepared:
    """Resolve the image, connect, read live state and compute the plan."""
    from vxdeploy.images import resolve_image
    from vxdeploy.vertex.connection import connect
    from vxdeploy.vertex.reader import read_live_state

    timings: dict[str, float] = {}
    started = time.perf_counter()
    image_uri = resolve_image(loaded, image, build=build, output=output)
    desired = desired_state(loaded.profile, image_uri)
    timings["desired_s"] = time.perf_counter() - started
    started = time.perf_counter()
    conn = connect(loaded.profile)
    timings["connect_s"] = time.perf_counter() - started
    started = time.perf_counter()
    live = read_live_state(conn, desired)
    timings["read_s"] = time.perf_counter() - started
    plan = compute_plan(desired, live, retry_rejected=retry_rejected)
    output.debug(f"read live state with {live.api_calls} API calls in {timings['read_s']:.2f} s")
    return Prepared(loaded, conn, desired, live, plan, timings)


def confirm(question: str, *, yes: bool, output: Output) -> None:
    """Ask on the terminal unless --yes; refuse to guess in a non-interactive session."""
    if yes:
        return
    if output.json or not sys.stdin.isatty():
        raise DeclinedError(f"{question} — not confirmed",
                            hint="pass --yes to apply without a prompt (CI)")
    from rich.prompt import Confirm

    if not Confirm.ask(question, console=output.console, default=False):
        raise DeclinedError("cancelled; nothing was changed")


def progress_printer(output: Output) -> Any:
    def show(change: Any, state: str) -> None:
        if state == "start":
            output.info(f"[dim]…[/dim] {change.action.value} {esc(change.resource)}")
        else:
            output.info(f"[green]✓[/green] {change.action.value}")

    return show
