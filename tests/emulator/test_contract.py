"""The contract with the installed SDK: routes and message fields match the snapshot, and
every served route resolves to its RPC."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from vxdeploy.emulator import contract
from vxdeploy.emulator.core import HANDLERS
from vxdeploy.emulator.routes import RouteTable, all_routes

SNAPSHOT = Path(__file__).with_name("contract_snapshot.json")
REGENERATE = "python -m vxdeploy.emulator.contract > tests/emulator/contract_snapshot.json"


def test_installed_sdk_matches_the_checked_in_contract():
    expected = json.loads(SNAPSHOT.read_text())
    problems = contract.differences(expected, contract.snapshot())
    assert not problems, ("the installed google-cloud-aiplatform changed the emulator's wire "
                          "contract; review, adapt the emulator, then regenerate with "
                          f"`{REGENERATE}`:\n" + "\n".join(problems))


def test_the_comparison_notices_route_and_field_changes():
    live = contract.snapshot()
    changed = copy.deepcopy(live)
    first = next(i for i, route in enumerate(changed["routes"]) if " /v1/" in route)
    changed["routes"][first] = changed["routes"][first].replace(" /v1/", " /v2/", 1)
    endpoint = "google.cloud.aiplatform.v1.Endpoint"
    changed["messages"][endpoint] = [f.replace(" etag ", " e_tag ")
                                     for f in changed["messages"][endpoint]]
    problems = contract.differences(changed, live)
    assert any(p.startswith("route added") for p in problems)
    assert any(p.startswith("route removed") for p in problems)
    assert any("e_tag" in p for p in problems) and any(" etag " in p for p in problems)


def _sample_path(template: str) -> str:
    def fill(match: re.Match[str]) -> str:
        pattern = match.group(2) or "*"
        return "/".join("x9" if part in ("*", "**") else part for part in pattern.split("/"))

    return re.sub(r"\{([a-zA-Z0-9_.]+)(?:=([^}]*))?\}", fill, template)


def test_every_route_resolves_and_has_a_handler():
    table = RouteTable()
    served = {"Predict", "RawPredict"} | set(HANDLERS)
    for route in all_routes():
        found = table.match(route.http_method, _sample_path(route.template))
        assert found is not None, route.template
        assert found[0].rpc == route.rpc, (route.template, found[0].rpc)
        assert route.rpc in served


def test_every_handler_has_a_route():
    """The other direction: a handler no route reaches is dead code, or a route lost."""
    routed = {route.rpc for route in all_routes()}
    assert set(HANDLERS) - routed == set()
