"""`vxdeploy cost`: what a profile costs a month at min and at max replicas."""

from __future__ import annotations

from pathlib import Path

import typer

from vxdeploy.cli.context import app_context
from vxdeploy.cli.options import PROFILE, SET
from vxdeploy.output import esc


def register(app: typer.Typer) -> None:
    app.command("cost")(cost_command)


def cost_command(
    ctx: typer.Context,
    profile: str = PROFILE,
    prices: Path = typer.Option(None, "--prices", help="TOML price table overriding the "
                                "built-in list prices (see docs/cost.md)."),
    active_fraction: float = typer.Option(0.25, "--active-fraction", min=0.0, max=1.0,
                                          help="Share of the month a scale-to-zero "
                                          "deployment is awake."),
    set_: list[str] = SET,
) -> None:
    """Estimate the monthly cost of a profile at min and max replicas."""
    from vxdeploy import catalog
    from vxdeploy.cost import estimate
    from vxdeploy.profile import load_profile

    context = app_context(ctx)
    loaded = load_profile(profile, context.profiles_dir, cli_overrides=set_ or ())
    table = catalog.load_price_table(prices) if prices else catalog.DEFAULT_PRICES
    result = estimate(loaded.profile, table, active_fraction=active_fraction)
    document = {"profile": loaded.profile.name, **result.to_dict()}

    def render() -> None:
        from rich.table import Table

        accel = (f"{result.accelerator_count} x {result.accelerator_type}"
                 if result.accelerator_type else "none")
        grid = Table(title=esc(f"cost of {loaded.profile.name} (USD)"), show_header=False)
        grid.add_row("machine", esc(f"{result.machine_type}  accelerators: {accel}")
                     + ("  [yellow]spot[/yellow]" if result.spot else ""))
        grid.add_row("per replica-hour", f"${result.node_hourly_usd:,.4f}")
        grid.add_row(f"month at min ({result.min_replicas})", f"${result.monthly_at_min_usd:,.2f}")
        grid.add_row(f"month at max ({result.max_replicas})", f"${result.monthly_at_max_usd:,.2f}")
        if result.monthly_scale_to_zero_usd is not None:
            grid.add_row("month with scale-to-zero", f"${result.monthly_scale_to_zero_usd:,.2f}")
        grid.add_row("quota at max", f"{result.quota_vcpus_at_max} vCPUs, "
                     f"{result.quota_gpus_at_max} GPUs")
        context.output.console.print(grid)
        for line in result.assumptions:
            context.output.console.print(f"  [dim]· {esc(line)}[/dim]")

    context.output.result(document, render)
