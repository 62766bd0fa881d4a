"""What every command receives from the global options."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import typer

from vxdeploy.output import Output
from vxdeploy.paths import default_profiles_dir


@dataclass
class AppContext:
    output: Output = field(default_factory=Output)
    profiles_dir: Path = field(default_factory=default_profiles_dir)


def app_context(ctx: typer.Context) -> AppContext:
    """The AppContext set by the root callback (a fresh default when run in isolation)."""
    root = ctx.find_root()
    if not isinstance(root.obj, AppContext):
        root.obj = AppContext()
    return root.obj
