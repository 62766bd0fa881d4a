"""The `vxdeploy` command line.

Only typer and the command modules load at start-up; every command imports what it needs
(the Google SDK, gRPC, docker, torch) inside its own function, so `vxdeploy --help` stays
fast. `main()` also lets the global options appear anywhere on the line, which is how
people type them (`vxdeploy plan --profile x --output json`).
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import typer

from vxdeploy import __version__
from vxdeploy.cli.context import AppContext
from vxdeploy.errors import VxError, unreachable
from vxdeploy.output import Output, OutputFormat, esc

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
    "vxdeploy.cli.init",
    "vxdeploy.cli.model",
    "vxdeploy.cli.package",
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
    from vxdeploy import waiting

    context = AppContext(output=Output(format=output, verbose=verbose))
    waiting.configure(json_output=output is OutputFormat.JSON)
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


_NEGATIVE_SPLIT = re.compile(r"^-\d[\d.]*/-?[\d.]*$")


def protect_negative_splits(argv: list[str]) -> list[str]:
    """`rollout -10/110`: a traffic string that starts with `-` is a (bad) split, not an
    option; move it after `--` so the rollout command receives it and can say which rule it
    breaks, instead of click answering "No such option: -1"."""
    command = next((i for i, arg in enumerate(argv) if not arg.startswith("-")
                    and (i == 0 or argv[i - 1] not in _GLOBAL_WITH_VALUE)), None)
    if command is None or argv[command] != "rollout" or "--" in argv:
        return argv
    splits = [arg for arg in argv[command + 1:] if _NEGATIVE_SPLIT.match(arg)]
    if not splits:
        return argv
    rest = [arg for arg in argv[command + 1:] if not _NEGATIVE_SPLIT.match(arg)]
    return [*argv[:command + 1], *rest, "--", *splits]


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
    console.print(f"[bold red]error:[/bold red] {esc(error.message)}", markup=True,
                  highlight=False)
    if error.hint:
        console.print(f"[yellow]hint:[/yellow] {esc(error.hint)}")


def resume_hint(args: list[str]) -> str | None:
    """How to carry on after Ctrl-C, for the commands that can resume where they stopped."""
    import shlex

    words, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in _GLOBAL_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            words.append(arg)
    line = shlex.join(["vxdeploy", *args])
    if words[:2] == ["rollout", "run"]:
        return (f"the endpoint keeps the traffic split it had; `{line}` resumes the rollout "
                "from its current step, `vxdeploy rollout abort` gives stable 100% again")
    if words[:1] in (["deploy"], ["destroy"]):
        return f"`{line}` picks up where this one stopped"
    return None


def _caused_by_interrupt(error: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _interrupted(args: list[str]) -> None:
    sys.stderr.write("interrupted\n")
    hint = resume_hint(args)
    if hint:
        sys.stderr.write(f"hint: {hint}\n")
    sys.exit(130)


def main(argv: list[str] | None = None) -> None:
    args = protect_negative_splits(
        hoist_global_options(list(sys.argv[1:] if argv is None else argv)))
    try:
        app(args=args, prog_name="vxdeploy", standalone_mode=True)
    except VxError as error:
        report_error(error, _wants_json(args))
        sys.exit(int(error.exit_code))
    except KeyboardInterrupt:
        _interrupted(args)
    except SystemExit as exit_:
        # Typer turns Ctrl-C into Exit(130) and exits without a word: say what happened.
        if exit_.code == 130 and _caused_by_interrupt(exit_):
            _interrupted(args)
        raise
    except Exception as error:
        failure = unreachable(error)
        if failure is None:
            raise
        report_error(failure, _wants_json(args))
        sys.exit(int(failure.exit_code))


__all__ = ["AppContext", "app", "main"]
