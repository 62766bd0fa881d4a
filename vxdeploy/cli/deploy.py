"""`vxdeploy deploy`: show the plan, ask, apply exactly that plan."""

from __future__ import annotations

from pathlib import Path

import typer

from vxdeploy.cli.context import app_context
from vxdeploy.cli.options import PROFILE, SET, YES
from vxdeploy.cli.plan import BUILD, IMAGE, RETRY_REJECTED


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy_command)


def deploy_command(
    ctx: typer.Context,
    profile: str = PROFILE,
    image: str = IMAGE,
    build: bool = BUILD,
    yes: bool = YES,
    dry_run: bool = typer.Option(False, "--dry-run", help="Plan only; change nothing."),
    skip_model_check: bool = typer.Option(
        False, "--skip-model-check",
        help="Do not load local artifacts with the container's loader before planning."),
    retry_rejected: bool = RETRY_REJECTED,
    saved: Path = typer.Option(None, "--plan", help="Apply this plan from `vxdeploy plan "
                               "--out` instead of planning again; refused (exit 4) if the "
                               "endpoint changed since it was made."),
    set_: list[str] = SET,
) -> None:
    """Make the endpoint match the profile: create, upload, deploy, shift traffic, alert."""
    from vxdeploy.apply import apply_plan
    from vxdeploy.profile import load_profile
    from vxdeploy.render import render_plan
    from vxdeploy.saved_plan import check_still_current, load_plan
    from vxdeploy.workflow import confirm, prepare, progress_printer

    context = app_context(ctx)
    output = context.output
    loaded = load_profile(profile, context.profiles_dir, cli_overrides=set_ or ())
    saved_plan = load_plan(saved) if saved is not None else None
    if not skip_model_check:
        from vxdeploy.modelcheck import preflight

        preflight(loaded.profile, output)
    prepared = prepare(loaded, output, image=image, build=build, retry_rejected=retry_rejected)
    plan = prepared.plan
    if saved_plan is not None:
        check_still_current(saved_plan, plan)
        plan = saved_plan
    if not output.json:
        render_plan(plan, output.console)
    if plan.empty or dry_run:
        output.result({**plan.to_dict(), "applied": [], "dry_run": dry_run,
                       "mutating_calls": 0})
        return
    confirm(f"Apply {len(plan.changes)} change(s) to {plan.endpoint}?", yes=yes, output=output)
    result = apply_plan(prepared.conn, prepared.desired, plan, progress_printer(output))
    output.info(f"[bold green]Applied[/bold green] {len(result.applied)} change(s) with "
                f"{result.mutating_calls} mutating call(s).")
    output.result({**plan.to_dict(), **result.to_dict(), "dry_run": False})
