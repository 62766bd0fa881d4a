"""`vxdeploy destroy`: remove everything a profile deployed (asks unless --yes)."""

from __future__ import annotations

import typer

from vxdeploy.cli.context import app_context
from vxdeploy.cli.options import PROFILE, SET, YES


def register(app: typer.Typer) -> None:
    app.command("destroy")(destroy_command)


def destroy_command(ctx: typer.Context, profile: str = PROFILE, yes: bool = YES,
                    set_: list[str] = SET) -> None:
    """Undeploy all models, delete the endpoint, its owned model and its alert policies."""
    from vxdeploy.apply import apply_plan
    from vxdeploy.destroy import plan_destroy, summary
    from vxdeploy.profile import load_profile
    from vxdeploy.render import render_plan
    from vxdeploy.vertex.connection import connect
    from vxdeploy.workflow import confirm, progress_printer

    context = app_context(ctx)
    output = context.output
    loaded = load_profile(profile, context.profiles_dir, cli_overrides=set_ or ())
    conn = connect(loaded.profile)
    plan = plan_destroy(conn, loaded.profile)
    document = {**plan.to_dict(), **summary(plan)}
    if plan.empty:
        output.info("Nothing to destroy.")
        output.result({**document, "destroyed": []})
        return
    if not output.json:
        render_plan(plan, output.console)
    confirm("Destroy these resources?", yes=yes, output=output)
    result = apply_plan(conn, plan, progress_printer(output))
    output.info(f"[bold]Destroyed[/bold] {len(result.applied)} resource(s).")
    output.result({**document, **result.to_dict(),
                   "destroyed": [f"{c['action']} {c['resource']}" for c in result.applied]})
