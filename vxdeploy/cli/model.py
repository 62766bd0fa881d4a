"""`vxdeploy model check`: load the artifacts with the container's loader before deploying."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from vxdeploy.cli.context import app_context

model_app = typer.Typer(help="Work with the model's artifacts before they are deployed.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")


@model_app.command("check")
def check_command(
    ctx: typer.Context,
    profile: str = typer.Option(None, "--profile", "-p", help="Check this profile's "
                                "model.artifact_uri with its model.container."),
    artifacts: Path = typer.Option(None, "--artifacts", help="An artifact folder (instead "
                                   "of --profile)."),
    container: str = typer.Option(None, "--container", help="flask, torchserve or tensorrt "
                                  "(default: the profile's, else flask)."),
    instances: Path = typer.Option(None, "--instances", help='JSON {"instances": [...]} to '
                                   "predict (default: the manifest's example_instances)."),
    set_: list[str] = typer.Option(None, "--set", help="Override a profile field."),
) -> None:
    """Load the model as the container will and predict its example instances, in seconds.

    Exit 2 names each missing or wrong file and manifest field (model code, factory, labels
    file, example instances, handler). `deploy` runs the same check for local artifacts.
    """
    from vxdeploy.errors import InvalidInputError
    from vxdeploy.modelcheck import ModelCheckError, check_model, local_artifact_dir

    context = app_context(ctx)
    if (profile is None) == (artifacts is None):
        raise InvalidInputError("model check needs exactly one of --profile or --artifacts",
                                hint="vxdeploy model check --artifacts model/ --container flask")
    if profile is not None:
        from vxdeploy.profile import load_profile

        loaded = load_profile(profile, context.profiles_dir, cli_overrides=set_ or ())
        directory = local_artifact_dir(loaded.profile.model.artifact_uri)
        if directory is None:
            raise InvalidInputError(
                f"{loaded.path}: model.artifact_uri {loaded.profile.model.artifact_uri!r} is "
                "not a local folder; check the folder before uploading it",
                hint="vxdeploy model check --artifacts DIR --container KIND")
        container = container or loaded.profile.model.container.value
    else:
        directory = artifacts
    result = check_model(directory, container or "flask", instances=instances)
    if not result.ok:
        raise ModelCheckError(result)
    context.output.result(result.to_dict(), lambda: render(result, context.output))


def render(result: Any, output: Any) -> None:
    """A short human summary: what loaded, how fast, the first predictions, the warnings."""
    mode = {"torchserve-mar": "a TorchServe .mar", "torchserve-handler":
            "a TorchServe handler"}.get(result.mode, f"{result.format} + {result.handler}")
    output.info(f"[green]✓[/green] {result.container}: loaded {mode} from {result.directory} "
                f"in {result.load_s:.2f} s")
    if result.instances:
        output.info(f"[green]✓[/green] predicted {result.instances} example instance(s) in "
                    f"{result.predict_s * 1000:.0f} ms")
        for prediction in result.predictions[:3]:
            output.info(f"    [dim]{str(prediction)[:160]}[/dim]")
    for warning in result.warnings:
        output.info(f"[yellow]warning:[/yellow] {warning}")
