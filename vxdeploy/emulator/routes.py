"""The emulator's route table, derived from the installed SDK's REST transports.

Writing URL templates by hand would drift from what the clients send; every GAPIC REST stub
carries its `_get_http_options()` and its `__call__` annotations name the request and
response types, so the table is read from there. An SDK upgrade that changes a route shows
up in the contract test, not as a 404 in production.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

VERSIONS = ("v1", "v1beta1")

# service -> (transport module under services/, transport class, the RPCs served)
SERVED: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "ModelService": ("model_service", "ModelServiceRestTransport", (
        "UploadModel", "GetModel", "ListModels", "ListModelVersions", "UpdateModel",
        "MergeVersionAliases",
        "DeleteModel", "DeleteModelVersion")),
    "EndpointService": ("endpoint_service", "EndpointServiceRestTransport", (
        "CreateEndpoint", "GetEndpoint", "ListEndpoints", "UpdateEndpoint", "DeleteEndpoint",
        "DeployModel", "UndeployModel", "MutateDeployedModel", "GetOperation",
        "ListOperations", "WaitOperation", "CancelOperation")),
    "PredictionService": ("prediction_service", "PredictionServiceRestTransport", (
        "Predict", "RawPredict", "Explain")),
}

# Operations live under the resources the emulator serves; the mixin has ~100 templates
# for every Vertex resource kind, of which these are the ones an operation here can have:
# location-scoped (`locations/L/operations/ID`, the form gcloud's help gives) or
# resource-scoped (`locations/L/endpoints/E/operations/ID`), one operation or the list.
_OPERATION_RPCS = ("GetOperation", "ListOperations", "WaitOperation", "CancelOperation")
_OPERATION_PARENTS = re.compile(
    r"^/(ui|v1|v1beta1)/\{name=projects/\*/locations/\*(/(models|endpoints)/\*)?"
    r"(/operations/\*\}(:wait|:cancel)?|\}/operations)$")

_VAR = re.compile(r"\{([a-zA-Z0-9_.]+)(?:=([^}]*))?\}")


@dataclass(frozen=True)
class Route:
    """One HTTP binding of one RPC."""

    version: str  # "v1" | "v1beta1": the message types to decode and encode with
    service: str
    rpc: str
    http_method: str  # upper case
    template: str
    body: str | None  # "*", a field name, or None
    request_type: Any  # proto-plus class (or a raw protobuf class for operations)
    response_type: Any
    pattern: re.Pattern[str]
    variables: tuple[str, ...]  # dotted field paths, in pattern group order

    @property
    def verb(self) -> str | None:
        """The custom method suffix (`:predict`), used to index routes for fast matching."""
        tail = self.template.rsplit("/", 1)[-1]
        return tail.split("}")[-1].split(":", 1)[1] if ":" in tail.split("}")[-1] else None


def compile_template(template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """Turn `/v1/{name=projects/*/locations/*}/x` into a regex with one group per variable."""
    pattern = ""
    variables: list[str] = []
    position = 0
    for match in _VAR.finditer(template):
        pattern += re.escape(template[position:match.start()])
        field, sub = match.group(1), match.group(2) or "*"
        variables.append(field)
        parts = []
        for segment in sub.split("/"):
            if segment == "**":
                parts.append(".+")
            elif segment == "*":
                parts.append("[^/:]+")
            else:
                parts.append(re.escape(segment))
        pattern += "(" + "/".join(parts) + ")"
        position = match.end()
    pattern += re.escape(template[position:])
    return re.compile("^" + pattern + "$"), tuple(variables)


def _transport(version: str, module: str, cls: str) -> Any:
    mod = importlib.import_module(
        f"google.cloud.aiplatform_{version}.services.{module}.transports.rest")
    return getattr(mod, cls)


def _routes_for(version: str, service: str) -> list[Route]:
    module, cls, rpcs = SERVED[service]
    transport = _transport(version, module, cls)
    routes = []
    for rpc in rpcs:
        stub = getattr(transport, f"_{rpc}")
        hints = stub.__call__.__annotations__
        for option in stub._get_http_options():
            template = option["uri"]
            if rpc in _OPERATION_RPCS and not _OPERATION_PARENTS.match(template):
                continue
            pattern, variables = compile_template(template)
            routes.append(Route(version=version, service=service, rpc=rpc,
                                http_method=option["method"].upper(), template=template,
                                body=option.get("body"), request_type=hints["request"],
                                response_type=hints["return"], pattern=pattern,
                                variables=variables))
    return routes


@cache
def all_routes() -> tuple[Route, ...]:
    """Every route the emulator serves, both API versions."""
    routes: list[Route] = []
    for version in VERSIONS:
        for service in SERVED:
            routes.extend(_routes_for(version, service))
    return tuple(routes)


class RouteTable:
    """Finds the route for (method, path); indexed by method and verb so Predict is cheap."""

    def __init__(self, routes: tuple[Route, ...] | None = None):
        self._index: dict[tuple[str, str | None], list[Route]] = {}
        for route in routes if routes is not None else all_routes():
            self._index.setdefault((route.http_method, route.verb), []).append(route)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route and its URL-decoded path variables, or None when nothing matches."""
        from urllib.parse import unquote

        last = path.rsplit("/", 1)[-1]
        verb = last.split(":", 1)[1] if ":" in last else None
        for route in self._index.get((method, verb), ()):
            found = route.pattern.match(path)
            if found:
                values = {name: unquote(value)
                          for name, value in zip(route.variables, found.groups(), strict=True)}
                return route, values
        return None

    def methods_for(self, path: str) -> list[str]:
        """HTTP methods some route accepts for `path` (to tell 405 from 404)."""
        return sorted({route.http_method for routes in self._index.values() for route in routes
                       if route.pattern.match(path)})
