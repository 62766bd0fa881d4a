"""`vxdeploy profiles`: list, validate and show deployment profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from vxdeploy.cli.context import app_context
from vxdeploy.cli.options import SET
from vxdeploy.errors import ExitCode
from vxdeploy.output import esc

profiles_app = typer.Typer(help="List, validate and show deployment profiles.",
                           no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(profiles_app, name="profiles")


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}


@profiles_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """List the profiles in the profiles folder."""
    from vxdeploy.profile import list_profiles

    context = app_context(ctx)
    paths = list_profiles(context.profiles_dir)
    rows = []
    for path in paths:
        import tomllib

        try:
            raw = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError):
            raw = {}
        rows.append({"name": path.stem, "path": str(path), "extends": raw.get("extends"),
                     "description": raw.get("description", "")})

    def render() -> None:
        from rich.table import Table

        table = Table("profile", "extends", "description", title=esc(context.profiles_dir))
        for row in rows:
            extends = row["extends"]
            table.add_row(esc(row["name"]), esc(", ".join(extends) if isinstance(extends, list)
                          else (extends or "")), esc(row["description"]))
        context.output.console.print(table)

    context.output.result({"profiles_dir": str(context.profiles_dir), "profiles": rows}, render)


@profiles_app.command("validate")
def validate_command(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, help="Profile names or paths [default: all]."),
    set_: list[str] = SET,
) -> None:
    """Validate profiles; every problem is reported with its file and field (exit code 2)."""
    from vxdeploy.profile import ProfileError, list_profiles, load_profile

    context = app_context(ctx)
    targets = names or [str(p) for p in list_profiles(context.profiles_dir)]
    results: list[dict[str, Any]] = []
    for name in targets:
        try:
            loaded = load_profile(name, context.profiles_dir, cli_overrides=set_ or ())
            results.append({"profile": loaded.profile.name, "path": str(loaded.path),
                            "valid": True, "problems": []})
        except ProfileError as error:
            results.append({"profile": Path(name).stem, "valid": False,
                            "problems": [p.to_dict() for p in error.problems]})
    failed = [r for r in results if not r["valid"]]

    def render() -> None:
        console = context.output.console
        for result in results:
            if result["valid"]:
                console.print(f"[green]✓[/green] {esc(result['profile'])}")
                continue
            console.print(f"[red]✗[/red] {esc(result['profile'])}")
            for problem in result["problems"]:
                where = f"{esc(problem['file'])}: [bold]{esc(problem['field'])}[/bold]"
                allowed = (f" [dim](allowed: {esc(problem['allowed'])})[/dim]"
                           if problem["allowed"] else "")
                console.print(f"    {where}: {esc(problem['message'])}{allowed}")
        console.print(f"{len(results) - len(failed)} valid, {len(failed)} invalid")

    context.output.result({"valid": not failed, "results": results}, render)
    if failed:
        raise typer.Exit(int(ExitCode.INVALID_INPUT))


@profiles_app.command("show")
def show_command(ctx: typer.Context, name: str = typer.Argument(..., help="Profile name or path."),
                 set_: list[str] = SET) -> None:
    """Print the resolved profile and where each value came from."""
    from vxdeploy.profile import load_profile

    context = app_context(ctx)
    loaded = load_profile(name, context.profiles_dir, cli_overrides=set_ or ())
    values = _flatten(loaded.profile.model_dump(mode="json", exclude={"extends"}))
    rows = [{"field": key, "value": value, "source": loaded.source_of(key)}
            for key, value in values.items()]
    document = {"profile": loaded.profile.name, "path": str(loaded.path),
                "chain": [str(p) for p in loaded.chain],
                "resolved": loaded.profile.model_dump(mode="json", exclude={"extends"}),
                "sources": {row["field"]: row["source"] for row in rows}}

    def render() -> None:
        from rich.table import Table

        chain = " → ".join(p.stem for p in loaded.chain)
        table = Table("field", "value", "source", title=esc(f"{loaded.profile.name}  ({chain})"))
        for row in rows:
            source = row["source"]
            style = "dim" if source == "default" else ""
            value = repr(row["value"]) if isinstance(row["value"], str) else str(row["value"])
            table.add_row(esc(row["field"]), esc(value), esc(source), style=style)
        context.output.console.print(table)

    context.output.result(document, render)


@profiles_app.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of a profile file (for editors: see docs/profiles.md)."""
    import json

    from vxdeploy.profile.reference import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


@profiles_app.command("docs")
def docs_command(
    write: Path = typer.Option(None, "--write", help="Write the Markdown reference to this "
                               "file (e.g. docs/profiles.md) instead of printing it."),
    check: Path = typer.Option(None, "--check", help="Exit 1 when this file differs from the "
                               "generated reference (for CI)."),
) -> None:
    """Print the profile reference (every field, type, default, allowed values, Vertex rule)."""
    from vxdeploy.errors import VxError
    from vxdeploy.profile.reference import render_markdown

    text = render_markdown()
    if check is not None:
        current = check.read_text(encoding="utf-8") if check.is_file() else ""
        if current != text:
            raise VxError(f"{check} is out of date with the profile models",
                          hint=f"run: vxdeploy profiles docs --write {check}")
        return
    if write is not None:
        write.write_text(text, encoding="utf-8")
        return
    typer.echo(text, nl=False)
