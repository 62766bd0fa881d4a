"""`vxdeploy init`: scaffold profiles, a model folder and a CI workflow for your own model."""

from __future__ import annotations

from pathlib import Path

import typer

from vxdeploy.cli.context import app_context
from vxdeploy.output import esc


def register(app: typer.Typer) -> None:
    app.command("init")(init_command)


def init_command(
    ctx: typer.Context,
    container: str = typer.Option("flask", "--container", "-c",
                                  help="Serving container: flask, torchserve or tensorrt."),
    directory: Path = typer.Option(Path("."), "--dir", help="Project folder to write into."),
    name: str = typer.Option(None, "--name", help="Endpoint and model name "
                             "[default: from the folder name]."),
    project: str = typer.Option("my-project", "--project", help="Google Cloud project id."),
    region: str = typer.Option("us-central1", "--region", help="Vertex AI region."),
    install: str = typer.Option(None, "--install-from", help="pip requirement CI installs "
                                "vxdeploy from (a git URL or a wheel path; it is not on PyPI)."),
    force: bool = typer.Option(False, "--force", help="Overwrite files that exist."),
) -> None:
    """Create profiles/ (local and vertex), model/vxserve.json and a GitHub Actions workflow."""
    from vxdeploy.scaffold import (
        DEFAULT_INSTALL,
        check_profiles,
        default_name,
        plan_scaffold,
        write_scaffold,
    )

    context = app_context(ctx)
    scaffold = plan_scaffold(directory, container=container,
                             name=name or default_name(directory), project=project,
                             region=region, install=install or DEFAULT_INSTALL)
    check_profiles(scaffold, directory)
    written = write_scaffold(scaffold, force=force)

    def render() -> None:
        console = context.output.console
        for path in written:
            console.print(f"[green]+[/green] {esc(path)}")
        console.print("next: put your model in model/ and fill in model/vxserve.json, then "
                      f"`vxdeploy deploy --profiles-dir {esc(directory / 'profiles')} "
                      "--profile local --yes`")

    context.output.result({"written": [str(p) for p in written], "container": container},
                          render)
