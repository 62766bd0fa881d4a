"""`vxdeploy plan`: what deploy would change, as a diff or JSON; nothing is changed."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from vxdeploy.cli.context import app_context
from vxdeploy.cli.options import PROFILE, SET

IMAGE = typer.Option(None, "--image", help="Image to deploy (Vertex: IMAGE@sha256:...).")
BUILD = typer.Option(False, "--build", help="Build (and for Vertex push) the bundled "
                     "container first and deploy its digest.")
RETRY_REJECTED = typer.Option(False, "--retry-rejected", help="Roll out a model version "
                              "again although a rollout rolled it back (exit 6 otherwise).")


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_command)


def plan_command(
    ctx: typer.Context,
    profile: str = PROFILE,
    out: Path = typer.Option(None, "--out", help="Also write the plan as JSON to this file."),
    detailed_exitcode: bool = typer.Option(
        False, "--detailed-exitcode", help="Exit 0 when there are no changes, 2 when there "
        "are changes, 1 on error."),
    image: str = IMAGE,
    build: bool = BUILD,
    retry_rejected: bool = RETRY_REJECTED,
    set_: list[str] = SET,
) -> None:
    """Show what `deploy` would change, without changing anything."""
    from vxdeploy.profile import load_profile
    from vxdeploy.render import render_plan
    from vxdeploy.workflow import prepare

    context = app_context(ctx)
    loaded = load_profile(profile, context.profiles_dir, cli_overrides=set_ or ())
    prepared = prepare(loaded, context.output, image=image, build=build,
                       retry_rejected=retry_rejected)
    document = {**prepared.plan.to_dict(), "api_calls": prepared.live.api_calls}
    if out:
        out.write_text(json.dumps(document, indent=2, default=str) + "\n")
    context.output.result(document, lambda: render_plan(prepared.plan, context.output.console))
    if detailed_exitcode and not prepared.plan.empty:
        raise typer.Exit(2)
