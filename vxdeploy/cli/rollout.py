"""`vxdeploy rollout`: shift traffic between stable and candidate, promote, abort, run.

`vxdeploy rollout 90/10 --profile p` must work exactly as typed, yet `rollout promote` is a
subcommand; a Click group cannot have an optional positional in front of its subcommands
(it would swallow "promote"), so the group routes anything that is not a subcommand name
to the `set` subcommand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
import typer
from typer.core import TyperGroup

from vxdeploy.cli.context import AppContext, app_context
from vxdeploy.cli.options import PROFILE, SET, YES
from vxdeploy.errors import ExitCode
from vxdeploy.output import esc

if TYPE_CHECKING:
    from vxdeploy.rollout.report import Progress, Report
    from vxdeploy.rollout.runner import Rollout


class SplitOrCommandGroup(TyperGroup):
    """A group whose first positional is a subcommand name or, failing that, a split."""

    default_command = "set"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        help_only = all(arg in ctx.help_option_names for arg in args)
        first = next((arg for arg in args if not arg.startswith("-")), None)
        if args and not help_only and first not in self.commands:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)  # type: ignore[arg-type]


rollout_app = typer.Typer(
    cls=SplitOrCommandGroup, no_args_is_help=True,
    help="Shift traffic between the stable and the candidate version: `rollout 90/10`, "
         "`promote`, `abort`, `status`, or `run` the profile's progressive policy.")


def register(app: typer.Typer) -> None:
    app.add_typer(rollout_app, name="rollout")


def _open(ctx: typer.Context, profile: str, overrides: list[str] | None,
          poll_s: float | None = None, *, runs_steps: bool = False
          ) -> tuple[AppContext, Rollout]:
    """Load the profile (and, for `run`, check its steps) before any client is built."""
    from vxdeploy.profile import load_profile
    from vxdeploy.rollout.runner import check_runnable
    from vxdeploy.rollout.session import open_rollout

    context = app_context(ctx)
    loaded = load_profile(profile, context.profiles_dir, cli_overrides=overrides or ())
    if runs_steps:
        check_runnable(loaded.profile.rollout)
    on_progress = None if context.output.json else _progress_printer(context)
    return context, open_rollout(loaded.profile, on_progress=on_progress, poll_s=poll_s)


def _progress_printer(context: AppContext) -> Any:
    def show(tick: Progress) -> None:
        if tick.message:
            context.output.info(f"[dim]·[/dim] {esc(tick.message)}")
            return
        reading = tick.reading
        readings = ("no data yet" if reading is None else
                    f"requests {reading.requests}  errors {reading.errors} "
                    f"({reading.error_rate:.2%})  p99 "
                    + (f"{reading.p99_ms:.0f} ms" if reading.p99_ms is not None else "n/a"))
        verdict = tick.result.verdict.value if tick.result else ""
        colour = {"pass": "green", "fail": "red"}.get(verdict, "yellow")
        context.output.info(
            f"step {tick.step + 1}/{len(tick.steps)} [bold]{tick.percent}%[/bold]  "
            f"bake {tick.bake_left_s:.0f}s left  {readings}  "
            f"[{colour}]{esc(tick.result.reason) if tick.result else ''}[/{colour}]")
    return show


def _render(context: AppContext, report: Report) -> None:
    from rich.table import Table

    document = report.to_dict()

    def render() -> None:
        stable, candidate = report.stable, report.candidate
        grid = Table(title=f"rollout {report.action}: {report.outcome}", show_header=False)
        grid.add_row("endpoint", report.endpoint)
        roles = [("stable", stable), ("candidate", candidate)]
        if report.previous is not None:  # after a promotion: the old stable is not stable
            roles.append(("previous", report.previous))
        for role, version in roles:
            if version is None:
                if role != "candidate" or report.previous is None:
                    grid.add_row(role, "[dim]none[/dim]")
                continue
            grid.add_row(role, f"deployed model {version.id}  "
                         f"(version {version.version_id or '?'}"
                         + (f", aliases {', '.join(version.aliases)}" if version.aliases
                            else "") + f")  {report.traffic.get(version.id, 0)}%")
        if report.state is not None:
            grid.add_row("state", f"{report.state.phase.value}"
                         + (f" at step {report.state.step + 1}/{len(report.steps)}"
                            if report.state.phase.value == "running" and report.steps else "")
                         + (f"  reason {report.state.reason}" if report.state.reason else ""))
        if report.steps:
            grid.add_row("steps", " → ".join(f"{s}%" for s in report.steps))
        if report.resumed_from_step is not None:
            grid.add_row("resumed", f"from step {report.resumed_from_step + 1}")
        if report.retired:
            grid.add_row("undeployed", ", ".join(report.retired))
        if report.reason:
            grid.add_row("reason", f"[red]{esc(report.reason)}[/red]")
        context.output.console.print(grid)

    context.output.result(document, render)


@rollout_app.command("set")
def set_command(
    ctx: typer.Context,
    split: str = typer.Argument(None, metavar="STABLE/CANDIDATE",
                                help="Shares such as 90/10, 50/50 or 100/0."),
    to: int = typer.Option(None, "--to", help="The candidate's share instead of a split, "
                           "e.g. --to 25 (same as 75/25)."),
    profile: str = PROFILE,
    set_: list[str] = SET,
) -> None:
    """Set the stable/candidate split, e.g. `vxdeploy rollout 90/10 --profile p`."""
    from vxdeploy.errors import InvalidInputError
    from vxdeploy.traffic import check_percent, parse_split

    if (split is None) == (to is None):
        raise InvalidInputError("give either a split such as 90/10 or --to PERCENT, not "
                                + ("both" if split is not None else "neither"))
    percent = parse_split(split)[1] if split is not None else check_percent(to, "--to")
    context, rollout = _open(ctx, profile, set_)
    _render(context, rollout.set_split(percent))


@rollout_app.command("status")
def status_command(ctx: typer.Context, profile: str = PROFILE, set_: list[str] = SET) -> None:
    """Show stable, candidate, traffic and the recorded rollout state."""
    context, rollout = _open(ctx, profile, set_)
    _render(context, rollout.status())


def _asker(context: AppContext, yes: bool) -> Any:
    from vxdeploy.workflow import confirm

    return lambda question: confirm(question, yes=yes, output=context.output)


@rollout_app.command("promote")
def promote_command(ctx: typer.Context, profile: str = PROFILE, yes: bool = YES,
                    set_: list[str] = SET) -> None:
    """Give the candidate 100%, move the `stable` alias, retire the old version."""
    context, rollout = _open(ctx, profile, set_)
    _render(context, rollout.promote(ask=_asker(context, yes)))


@rollout_app.command("abort")
def abort_command(ctx: typer.Context, profile: str = PROFILE, yes: bool = YES,
                  set_: list[str] = SET) -> None:
    """Give stable 100% again; keep or undeploy the candidate per rollout.old_version."""
    context, rollout = _open(ctx, profile, set_)
    _render(context, rollout.abort(ask=_asker(context, yes)))


@rollout_app.command("run")
def run_command(
    ctx: typer.Context,
    profile: str = PROFILE,
    poll: float = typer.Option(None, "--poll", min=0.05, help="Seconds between metric reads "
                               "during a bake (default: a tenth of bake + metrics delay, "
                               "0.5..30)."),
    set_: list[str] = SET,
) -> None:
    """Walk the profile's canary/linear steps with gates; roll back by itself on a failure.

    Exit code 6 when a gate failed and traffic went back to stable, 4 when someone else
    changed the endpoint meanwhile. An interrupted run resumes where it stopped.
    """
    context, rollout = _open(ctx, profile, set_, poll_s=poll, runs_steps=True)
    report = rollout.run()
    _render(context, report)
    if report.outcome == "rolled-back":
        if not context.output.json:
            context.output.console.print(
                f"[bold red]rolled back:[/bold red] {esc(report.reason)}; stable has 100%")
        raise typer.Exit(int(ExitCode.ROLLED_BACK))
