"""Options shared by many commands, declared once so they read the same everywhere."""

from __future__ import annotations

import typer

PROFILE = typer.Option(..., "--profile", "-p", help="Profile name (file stem in the profiles "
                       "folder) or path to a profile TOML file.")
SET = typer.Option(None, "--set", help="Override a profile field, e.g. "
                   "--set machine.min_replicas=2 (repeatable; highest precedence).")
YES = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation (for CI).")
