"""`vxdeploy package`: compile the model into AOTInductor or torch.compile artifacts."""

from __future__ import annotations

from pathlib import Path

import typer

from vxdeploy.cli.context import app_context


def register(app: typer.Typer) -> None:
    app.command("package")(package_command)


def package_command(
    ctx: typer.Context,
    model_dir: Path = typer.Argument(None, help="The model folder (model file, vxserve.json; "
                                     "default: the profile's model.artifact_uri)."),
    compile_: str = typer.Option(None, "--compile", help="aoti: an AOTInductor package "
                                 "(compiled now); compile: torch.compile at start-up from a "
                                 "warm cache (default: the profile's model.compile)."),
    out: Path = typer.Option(None, "--out", help="Where the artifacts go (default: "
                             "<model folder>-<mode> beside it)."),
    instances: Path = typer.Option(None, "--instances", help='JSON {"instances": [...]} to '
                                   "trace with (default: the manifest's example_instances)."),
    profile: str = typer.Option(None, "--profile", "-p", help="Take the model folder and "
                                "mode from this profile."),
    threads: int = typer.Option(0, "--threads", min=0, help="CPU threads to compile with; "
                                "match the servers' VXSERVE_TORCH_THREADS (part of "
                                "torch.compile's cache key). 0: torch's default."),
    set_: list[str] = typer.Option(None, "--set", help="Override a profile field."),
) -> None:
    """Compile the model, with a dynamic batch dimension, and check it against eager PyTorch.

    Exit 2 names the file and field at fault (no example instances, a model torch.export
    cannot trace, a TorchScript model for aoti).
    """
    from vxdeploy.errors import InvalidInputError
    from vxdeploy.packaging import MODES, package_model

    context = app_context(ctx)
    mode = compile_
    if profile is not None:
        from vxdeploy.modelcheck import local_artifact_dir
        from vxdeploy.profile import load_profile

        loaded = load_profile(profile, context.profiles_dir, cli_overrides=set_ or ())
        spec = loaded.profile.model
        if model_dir is None:
            model_dir = local_artifact_dir(spec.artifact_uri)
            if model_dir is None:
                raise InvalidInputError(
                    f"{loaded.path}: model.artifact_uri {spec.artifact_uri!r} is not a local "
                    "folder", hint="vxdeploy package MODEL_DIR --compile aoti")
        if mode is None and spec.compile.value != "off":
            mode = spec.compile.value
    if model_dir is None:
        raise InvalidInputError("vxdeploy package needs a model folder (or --profile)",
                                hint="vxdeploy package MODEL_DIR --compile aoti")
    if mode is None or mode not in MODES:
        shown = "missing" if mode is None else repr(mode)
        raise InvalidInputError(f"--compile is {shown}",
                                hint=f"allowed: {', '.join(MODES)} (or model.compile in the "
                                "profile)")
    context.output.info(f"[dim]…[/dim] packaging {model_dir} with --compile {mode} "
                        "(AOTInductor takes a minute or more)")
    result = package_model(model_dir, mode, out, instances=instances, torch_threads=threads)

    def render() -> None:
        context.output.info(
            f"[green]✓[/green] {result.mode}: {result.out} ({', '.join(result.files)}) in "
            f"{result.seconds:.1f} s; max difference from eager {result.max_abs_diff:.2g}")

    context.output.result(result.to_dict(), render)
