"""`vxdeploy predict`: send instances to the profile's endpoint and show who answered."""

from __future__ import annotations

import json
from typing import Any

import typer

from vxdeploy.cli.context import app_context
from vxdeploy.cli.options import PROFILE, SET
from vxdeploy.errors import InvalidInputError


def register(app: typer.Typer) -> None:
    app.command("predict")(predict_command)


def read_instances(source: str) -> dict[str, Any]:
    """A JSON list of instances, or {"instances": [...], "parameters": {...}}, from a file or -."""
    from vxdeploy.textfile import read_text_or_stdin

    name = "standard input" if source == "-" else source
    text = read_text_or_stdin(source, what="instances file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{name}: not valid JSON: {exc}") from exc
    if isinstance(data, list):
        data = {"instances": data}
    if not isinstance(data, dict) or "instances" not in data:
        raise InvalidInputError(f"{name}: expected a JSON list of instances or an object with "
                                "an \"instances\" list")
    if not isinstance(data["instances"], list) or not data["instances"]:
        raise InvalidInputError(f"{name}: instances must be a non-empty list")
    unknown = set(data) - {"instances", "parameters"}
    if unknown:
        raise InvalidInputError(f"{name}: unknown keys {sorted(unknown)}; allowed: instances, "
                                "parameters")
    if "parameters" in data and not isinstance(data["parameters"], dict):
        raise InvalidInputError(f"{name}: parameters must be an object")
    return data


def predict_command(
    ctx: typer.Context,
    profile: str = PROFILE,
    instances: str = typer.Option(..., "--instances", "-i", help="JSON file of instances, "
                                  "or - for standard input."),
    raw: bool = typer.Option(False, "--raw", help="Use rawPredict: the body goes to the "
                             "server as is."),
    set_: list[str] = SET,
) -> None:
    """Send a prediction request to the profile's endpoint."""
    from vxdeploy.profile import load_profile
    from vxdeploy.vertex.connection import connect
    from vxdeploy.vertex.predict import predict, raw_predict

    context = app_context(ctx)
    body = read_instances(instances)
    loaded = load_profile(profile, context.profiles_dir, cli_overrides=set_ or ())
    conn = connect(loaded.profile)
    endpoint = conn.endpoint_name(loaded.profile.endpoint.name)
    result = raw_predict(conn, endpoint, body) if raw else predict(conn, endpoint, body)

    def render() -> None:
        console = context.output.console
        console.print(f"answered by deployed model [cyan]{result.get('deployed_model_id')}"
                      f"[/cyan] ({result.get('model', '')}@{result.get('model_version_id', '')})")
        console.print_json(json.dumps(result.get("predictions")))

    context.output.result(result, render)
