"""`vxdeploy destroy`: remove everything a profile deployed (asks unless --yes)."""

from __future__ import annotations

import typer

from vxdeploy.cli.context import app_context
from vxdeploy.cli.options import PROFILE, SET, YES
from vxdeploy.output import esc


def register(app: typer.Typer) -> None:
    app.command("destroy")(destroy_command)


def destroy_command(ctx: typer.Context, profile: str = PROFILE, yes: bool = YES,
                    set_: list[str] = SET) -> None:
    """Undeploy all models, delete the endpoint, its owned model and its alert policies."""
    from vxdeploy.destroy import apply_destroy, plan_destroy
    from vxdeploy.profile import load_profile
    from vxdeploy.vertex.connection import connect
    from vxdeploy.workflow import confirm

    context = app_context(ctx)
    output = context.output
    loaded = load_profile(profile, context.profiles_dir, cli_overrides=set_ or ())
    conn = connect(loaded.profile)
    endpoint_id = loaded.profile.endpoint.name
    plan = plan_destroy(conn, endpoint_id, endpoint_id)
    if plan.empty:
        output.info("Nothing to destroy.")
        output.result({**plan.to_dict(), "destroyed": []})
        return
    output.info(f"[red]Will destroy[/red]: endpoint {esc(plan.endpoint or '-')} "
                f"({len(plan.deployed_model_ids)} deployed model(s)), "
                f"model {esc(plan.model or '-')}, "
                f"{len(plan.alert_policies)} alert polic(ies)")
    confirm("Destroy these resources?", yes=yes, output=output)
    done = apply_destroy(conn, plan, lambda step: output.info(f"[dim]…[/dim] {esc(step)}"))
    output.info(f"[bold]Destroyed[/bold] {len(done)} resource(s).")
    output.result({**plan.to_dict(), "destroyed": done})
