"""`vxdeploy status`: the endpoint, what is deployed where, who gets traffic, what alerts."""

from __future__ import annotations

from dataclasses import asdict

import typer

from vxdeploy.cli.context import app_context
from vxdeploy.cli.options import PROFILE, SET
from vxdeploy.output import esc


def register(app: typer.Typer) -> None:
    app.command("status")(status_command)


def status_command(ctx: typer.Context, profile: str = PROFILE, set_: list[str] = SET) -> None:
    """Show the profile's endpoint: deployed models, versions, replicas, traffic, alerts."""
    from vxdeploy.errors import NotFoundError
    from vxdeploy.live import LiveState
    from vxdeploy.profile import load_profile
    from vxdeploy.vertex.connection import connect
    from vxdeploy.vertex.reader import read_alert_policies, read_endpoint

    context = app_context(ctx)
    loaded = load_profile(profile, context.profiles_dir, cli_overrides=set_ or ())
    conn = connect(loaded.profile)
    state = LiveState()
    endpoint_id = loaded.profile.endpoint.name
    endpoint = read_endpoint(conn, endpoint_id, state)
    if endpoint is None:
        raise NotFoundError(f"endpoint {conn.endpoint_name(endpoint_id)} does not exist",
                            hint=f"run `vxdeploy deploy --profile {loaded.profile.name}`")
    policies = read_alert_policies(conn, endpoint_id, state)
    document = {
        "profile": loaded.profile.name,
        "endpoint": endpoint.name,
        "kind": endpoint.kind.value,
        "etag": endpoint.etag,
        "traffic_split": endpoint.traffic_split,
        "deployed_models": [{**asdict(d), "traffic_percent": endpoint.share(d.id)}
                            for d in endpoint.deployed_models],
        "alert_policies": [asdict(p) for p in policies.values()],
        "labels": endpoint.labels,
    }

    def render() -> None:
        from rich.table import Table

        console = context.output.console
        console.print(f"[bold]{esc(endpoint.name)}[/bold]  ({endpoint.kind.value})")
        table = Table("deployed model", "version", "aliases", "machine", "replicas", "spot",
                      "traffic")
        for dm in endpoint.deployed_models:
            machine = dm.machine_type + (f" + {dm.accelerator_count}x{dm.accelerator_type}"
                                         if dm.accelerator_type else "")
            table.add_row(esc(dm.id), esc(f"{dm.model.rsplit('/', 1)[-1]}@{dm.version_id}"),
                          esc(", ".join(dm.aliases)), esc(machine),
                          f"{dm.min_replicas}..{dm.max_replicas}", "yes" if dm.spot else "no",
                          f"{endpoint.share(dm.id)}%")
        console.print(table)
        for policy in policies.values():
            state_text = "enabled" if policy.enabled else "disabled"
            console.print(f"alert [cyan]{esc(policy.kind)}[/cyan]: {esc(policy.display_name)} "
                          f"({state_text})")
        if not policies:
            console.print("[yellow]no alert policies[/yellow]")

    context.output.result(document, render)
