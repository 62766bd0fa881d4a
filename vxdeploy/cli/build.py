"""`vxdeploy build`: build the profile's serving image, reuse it when unchanged, push it."""

from __future__ import annotations

import typer

from vxdeploy.cli.context import app_context
from vxdeploy.cli.options import PROFILE, SET


def register(app: typer.Typer) -> None:
    app.command("build")(build_command)


def build_command(
    ctx: typer.Context,
    profile: str = PROFILE,
    push: bool = typer.Option(False, "--push", help="Push to the profile's Artifact Registry "
                              "repository and print the image digest deploy uses."),
    tag: list[str] = typer.Option(None, "--tag", "-t", help="Extra tag next to the content-hash "
                                  "tag, e.g. --tag latest (repeatable)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Rebuild even if the content tag "
                                  "exists, without the engine's layer cache."),
    base_image: str = typer.Option(None, "--base-image", help="Base image (the BASE_IMAGE "
                                   "build argument); default: model.base_image, else the "
                                   "Dockerfile's."),
    registry: str = typer.Option(None, "--registry", envvar="VXDEPLOY_REGISTRY",
                                 help="Registry host replacing {region}-docker.pkg.dev, e.g. "
                                 "127.0.0.1:5000 (no auth): tests, private mirrors."),
    network: str = typer.Option("host", "--network", help="Network for RUN steps (engines "
                                "without a bridge need host)."),
    set_: list[str] = SET,
) -> None:
    """Build the profile's serving image (tagged by content hash) and optionally push it."""
    from vxdeploy.build import build_image
    from vxdeploy.profile import load_profile

    context = app_context(ctx)
    out = context.output
    loaded = load_profile(profile, context.profiles_dir, cli_overrides=set_ or ())

    result = build_image(loaded, push=push, tags=tag or (), no_cache=no_cache,
                         base_image=base_image, registry=registry, network=network, output=out)
    document = {"profile": loaded.profile.name, **result.to_dict()}

    def render() -> None:
        from rich.table import Table

        grid = Table(title=f"image for {loaded.profile.name}", show_header=False)
        grid.add_row("image", result.image)
        grid.add_row("status", "reused (same inputs)" if result.reused else "built")
        if result.extra_tags:
            grid.add_row("extra tags", ", ".join(result.extra_tags))
        grid.add_row("digest", result.digest or "[dim]not pushed (use --push)[/dim]")
        grid.add_row("deploy with", result.reference)
        grid.add_row("seconds", f"{result.timings.get('total', 0.0):.1f}")
        out.console.print(grid)

    out.result(document, render)
