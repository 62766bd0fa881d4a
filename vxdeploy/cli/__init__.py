"""The `vxdeploy` command line.

Only typer and the command modules load at start-up; every command imports what it needs
(the Google SDK, gRPC, docker, torch) inside its own function, so `vxdeploy --help` stays
fast. `main()` also lets the global options appear anywhere on the line, which is how
people type them (`vxdeploy plan --profile x --output json`).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import typer

from vxdeploy import __version__
from vxdeploy.cli.context import AppContext
from vxdeploy.errors import VxError
from vxdeploy.output import Output, OutputFormat

app = typer.Typer(
    name="vxdeploy",
    help="Infrastructure as code for Vertex AI prediction endpoints.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Modules that add commands to `app`, each with a `register(app)` function.
COMMAND_MODULES: tuple[str, ...] = (
    "vxdeploy.cli.build",
    "vxdeploy.cli.plan",
    "vxdeploy.cli.deploy",
    "vxdeploy.cli.rollout",
    "vxdeploy.cli.status",
    "vxdeploy.cli.predict",
    "vxdeploy.cli.destroy",
    "vxdeploy.cli.profiles",
    "vxdeploy.cli.cost",
    "vxdeploy.cli.local",
    "vxdeploy.cli.model",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vxdeploy {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    output: OutputFormat = typer.Option(
        OutputFormat.TABLE, "--output", "-o", envvar="VXDEPLOY_OUTPUT",
        help="table: rich text on stderr for people; json: one JSON document on stdout."),
    profiles_dir: Path = typer.Option(
        None, "--profiles-dir", envvar="VXDEPLOY_PROFILES_DIR",
        help="Folder of profile TOML files (default: ./profiles, else the bundled examples)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show API calls and timings."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Infrastructure as code for Vertex AI prediction endpoints."""
    context = AppContext(output=Output(format=output, verbose=verbose))
    if profiles_dir is not None:
        context.profiles_dir = profiles_dir
    ctx.obj = context


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)

_GLOBAL_WITH_VALUE = ("--output", "-o", "--profiles-dir")
_GLOBAL_FLAGS = ("--verbose", "-v")


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move global options to the front so they work after the command name too."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            rest.extend(argv[index:])
            break
        name = arg.split("=", 1)[0]
        if name in _GLOBAL_WITH_VALUE:
            if "=" in arg or index + 1 >= len(argv):
                front.append(arg)
            else:
                front.extend(argv[index:index + 2])
                index += 1
        elif arg in _GLOBAL_FLAGS:
            front.append(arg)
        else:
            rest.append(arg)
        index += 1
    return front + rest


def _wants_json(argv: list[str]) -> bool:
    import os

    for index, arg in enumerate(argv):
        if arg in ("--output=json", "-o=json"):
            return True
        if arg in ("--output", "-o") and index + 1 < len(argv) and argv[index + 1] == "json":
            return True
    return os.environ.get("VXDEPLOY_OUTPUT") == "json"


def report_error(error: VxError, as_json: bool) -> None:
    """Explain a failure: a JSON document on stdout for machines, a red line for people."""
    if as_json:
        Output(format=OutputFormat.JSON).emit_json(error.to_dict())
        return
    console = Output().console
    console.print(f"[bold red]error:[/bold red] {error.message}", markup=True, highlight=False)
    if error.hint:
        console.print(f"[yellow]hint:[/yellow] {error.hint}")


def main(argv: list[str] | None = None) -> None:
    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    try:
        app(args=args, prog_name="vxdeploy", standalone_mode=True)
    except VxError as error:
        report_error(error, _wants_json(args))
        sys.exit(int(error.exit_code))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)


__all__ = ["AppContext", "app", "main"]
