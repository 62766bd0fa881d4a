"""`vxdeploy deploy`: show the plan, ask, apply exactly that plan."""

from __future__ import annotations

from pathlib import Path

import typer

from vxdeploy.cli.context import app_context
from vxdeploy.cli.options import SET, YES
from vxdeploy.cli.plan import BUILD, IMAGE, RETRY_REJECTED


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy_command)


def deploy_command(
    ctx: typer.Context,
    profile: str = typer.Option(None, "--profile", "-p", help="Profile name (file stem in the "
                                "profiles folder) or path to a profile TOML file; not needed "
                                "with --plan."),
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
    from vxdeploy.errors import InvalidInputError
    from vxdeploy.profile import load_profile
    from vxdeploy.render import render_plan
    from vxdeploy.workflow import confirm, progress_printer

    context = app_context(ctx)
    output = context.output
    if profile is None and saved is None:
        raise InvalidInputError("deploy needs --profile NAME (or --plan FILE from `vxdeploy "
                                "plan --out`)")
    loaded = load_profile(profile, context.profiles_dir, cli_overrides=set_ or ()) \
        if profile is not None else None
    if saved is not None:
        from vxdeploy.saved_plan import open_saved

        wanted = None
        if loaded is not None:
            p = loaded.profile
            wanted = f"projects/{p.project}/locations/{p.region}/endpoints/{p.endpoint.name}"
        plan, conn = open_saved(saved, wanted)
    else:
        from vxdeploy.workflow import prepare

        assert loaded is not None
        if not skip_model_check:
            from vxdeploy.modelcheck import preflight

            preflight(loaded.profile, output)
        prepared = prepare(loaded, output, image=image, build=build,
                           retry_rejected=retry_rejected)
        plan, conn = prepared.plan, prepared.conn
    if not output.json:
        render_plan(plan, output.console)
    if plan.empty or dry_run:
        output.result({**plan.to_dict(), "applied": [], "dry_run": dry_run,
                       "mutating_calls": 0})
        return
    confirm(f"Apply {len(plan.changes)} change(s) to {plan.endpoint}?", yes=yes, output=output)
    result = apply_plan(conn, plan, progress_printer(output))
    output.info(f"[bold green]Applied[/bold green] {len(result.applied)} change(s) with "
                f"{result.mutating_calls} mutating call(s).")
    output.result({**plan.to_dict(), **result.to_dict(), "dry_run": False})
