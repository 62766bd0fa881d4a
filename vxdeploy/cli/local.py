"""`vxdeploy local`: start, stop and inspect the local Vertex emulator daemon."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from vxdeploy.cli.context import app_context
from vxdeploy.output import esc

local_app = typer.Typer(help="Run the local Vertex emulator (the default target).",
                        no_args_is_help=True)

STATE_DIR = typer.Option(None, "--state-dir", envvar="VXDEPLOY_EMULATOR_STATE_DIR",
                         help="Emulator state folder [default: $VXDEPLOY_HOME/emulator or "
                         "~/.local/state/vxdeploy/emulator].")


def register(app: typer.Typer) -> None:
    app.add_typer(local_app, name="local")


def _servers_table(context: Any, servers: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table("endpoint", "deployed model", "replicas", "url", "state")
    for server in servers:
        urls = ", ".join(r["base_url"] for r in server["replicas"]) or "-"
        alive = sum(1 for r in server["replicas"] if r.get("alive"))
        state = ("starting" if server["starting"] else
                 "scaled to zero" if server["scale_to_zero"] and not server["replicas"] else
                 "error" if server["error"] and not alive else "running")
        table.add_row(esc(server["endpoint_id"]), esc(server["deployed_model_id"]),
                      f"{alive}/{len(server['replicas'])}", esc(urls), state)
    context.output.console.print(table)


@local_app.command("up")
def up_command(ctx: typer.Context, state_dir: Path = STATE_DIR,
               port: int = typer.Option(0, "--port", help="REST port (0: any free port).")) -> None:
    """Start the emulator daemon (no-op when it is already running)."""
    from vxdeploy.emulator import control

    context = app_context(ctx)
    started = time.perf_counter()
    info = control.ensure_running(state_dir, port=port)
    elapsed = time.perf_counter() - started
    from vxdeploy.emulator.storage import running_url

    storage_url = running_url(info.state_dir)
    document = info.to_dict() | {"storage_url": storage_url, "ready_s": round(elapsed, 3)}

    def render() -> None:
        console = context.output.console
        console.print(f"[green]emulator ready[/green] in {elapsed:.2f}s (pid {info.pid})")
        console.print(f"  REST  {info.rest_url}")
        console.print(f"  gRPC  {info.grpc_target or '-'}")
        console.print(f"  GCS   {storage_url or '-'}  (STORAGE_EMULATOR_HOST)")
        console.print(f"  state {info.state_dir}")

    context.output.result(document, render)


@local_app.command("down")
def down_command(ctx: typer.Context, state_dir: Path = STATE_DIR) -> None:
    """Stop the emulator daemon and every model server it runs (state is kept)."""
    from vxdeploy.emulator import control

    context = app_context(ctx)
    folder = state_dir or control.default_state_dir()
    stopped = control.stop(folder)
    context.output.result(
        {"stopped": stopped, "state_dir": str(folder)},
        lambda: context.output.console.print(
            "emulator stopped" if stopped else f"no emulator was running for {esc(folder)}"))


@local_app.command("status")
def status_command(ctx: typer.Context, state_dir: Path = STATE_DIR) -> None:
    """Show the emulator's addresses, state folder and running model servers."""
    from vxdeploy.emulator import control

    context = app_context(ctx)
    folder = state_dir or control.default_state_dir()
    info = control.read_info(folder)
    document: dict[str, Any]
    if info is None:
        document = {"running": False, "rest_url": None, "grpc_target": None,
                    "storage_url": None, "state_dir": str(folder), "pid": None, "servers": []}
    else:
        from vxdeploy.emulator.storage import running_url

        servers = control.admin_get(info, "servers")["servers"]
        document = ({"running": True} | info.to_dict()
                    | {"storage_url": running_url(folder), "servers": servers})

    def render() -> None:
        console = context.output.console
        if not document["running"]:
            console.print(f"emulator: [yellow]stopped[/yellow] (state {esc(folder)}); "
                          "start it with `vxdeploy local up`")
            return
        console.print(f"emulator: [green]running[/green] pid {document['pid']}")
        console.print(f"  REST  {document['rest_url']}\n  gRPC  {document['grpc_target']}\n"
                      f"  GCS   {document['storage_url'] or '-'}  (STORAGE_EMULATOR_HOST)\n"
                      f"  state {document['state_dir']}")
        if document["servers"]:
            _servers_table(context, document["servers"])
        else:
            console.print("  no model servers")

    context.output.result(document, render)


@local_app.command("logs")
def logs_command(
    ctx: typer.Context,
    deployed_model: str = typer.Argument(None, help="A deployed model id [default: the "
                                         "emulator's own log]."),
    lines: int = typer.Option(50, "--lines", "-n", min=1, help="How many lines."),
    state_dir: Path = STATE_DIR,
) -> None:
    """Print the end of the emulator's log, or of a deployed model's server log."""
    from vxdeploy.emulator import control
    from vxdeploy.errors import NotFoundError

    context = app_context(ctx)
    folder = state_dir or control.default_state_dir()
    if deployed_model is None:
        paths = [folder / control.LOG_FILE]
    else:
        paths = sorted((folder / "logs").glob(f"*-{deployed_model}-r*.log"))
        if not paths:
            known = sorted({p.name.split("-")[1] for p in (folder / "logs").glob("*-r*.log")})
            raise NotFoundError(f"no server log for deployed model {deployed_model!r} in "
                                f"{folder / 'logs'}; known: {', '.join(known) or 'none'}")
    logs = {}
    for path in paths:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            text = ""
        logs[str(path)] = "\n".join(text.splitlines()[-lines:])

    def render() -> None:
        import sys

        for path, text in logs.items():
            if len(logs) > 1:
                context.output.console.print(f"[bold]==> {esc(path)} <==[/bold]")
            sys.stdout.write(text + ("\n" if text else ""))

    context.output.result({"logs": logs}, render)
