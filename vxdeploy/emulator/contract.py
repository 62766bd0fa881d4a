"""The emulator's wire contract with the installed SDK: routes served and message fields.

`snapshot()` lists every route the emulator serves (read from the SDK's REST transports)
and the fields of every message it reads or writes. A checked-in copy
(tests/emulator/contract_snapshot.json) is compared with the live one, so an SDK upgrade
that moves a route or renames, renumbers or adds a field fails a test instead of
silently drifting. Regenerate after reviewing the change:

    python -m vxdeploy.emulator.contract > tests/emulator/contract_snapshot.json
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

from vxdeploy.emulator.routes import VERSIONS, all_routes

# Messages whose fields the emulator interprets or fills (beyond the request/response types).
MESSAGES = (
    "Model", "ModelContainerSpec", "Endpoint", "DeployedModel", "DedicatedResources",
    "MachineSpec", "AutoscalingMetricSpec", "DeployedModelRef", "ClientConnectionConfig",
    "PrivateServiceConnectConfig", "EnvVar", "Port", "GenericOperationMetadata",
    "CreateEndpointOperationMetadata", "DeployModelOperationMetadata",
    "UndeployModelOperationMetadata", "MutateDeployedModelOperationMetadata",
    "UploadModelOperationMetadata", "DeleteOperationMetadata", "UploadModelResponse",
    "DeployModelResponse", "UndeployModelResponse", "MutateDeployedModelResponse",
)


def _fields(pb_descriptor: Any) -> list[str]:
    out = []
    for field in sorted(pb_descriptor.fields, key=lambda f: f.number):
        kind = field.message_type.full_name if field.message_type else (
            field.enum_type.full_name if field.enum_type else str(field.type))
        repeated = getattr(field, "is_repeated", None)
        if repeated is None:
            repeated = field.label == field.LABEL_REPEATED
        out.append(f"{field.number} {field.name} {'repeated ' if repeated else ''}{kind}")
    return out


def _descriptor(message_type: Any) -> Any:
    return message_type.pb().DESCRIPTOR if hasattr(message_type, "pb") else message_type.DESCRIPTOR


def snapshot() -> dict[str, Any]:
    routes = sorted(f"{r.version} {r.service}.{r.rpc} {r.http_method} {r.template}"
                    f"{' body=' + r.body if r.body else ''}" for r in all_routes())
    messages: dict[str, list[str]] = {}
    for route in all_routes():
        for message_type in (route.request_type, route.response_type):
            if message_type is None:  # google.protobuf.Empty (CancelOperation)
                continue
            descriptor = _descriptor(message_type)
            messages[descriptor.full_name] = _fields(descriptor)
    for version in VERSIONS:
        module = importlib.import_module(f"google.cloud.aiplatform_{version}.types")
        for name in MESSAGES:
            descriptor = _descriptor(getattr(module, name))
            messages[descriptor.full_name] = _fields(descriptor)
        scale = getattr(module.DedicatedResources, "ScaleToZeroSpec", None)
        if scale is not None:
            descriptor = _descriptor(scale)
            messages[descriptor.full_name] = _fields(descriptor)
    return {"routes": routes, "messages": dict(sorted(messages.items()))}



def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Human-readable differences between a checked-in snapshot and the live one."""
    out = [f"route removed: {r}" for r in expected["routes"] if r not in actual["routes"]]
    out += [f"route added: {r}" for r in actual["routes"] if r not in expected["routes"]]
    for name in sorted(set(expected["messages"]) | set(actual["messages"])):
        old, new = expected["messages"].get(name), actual["messages"].get(name)
        if old is None or new is None:
            out.append(f"message {'added' if old is None else 'removed'}: {name}")
            continue
        out += [f"{name}: field removed or changed: {f}" for f in old if f not in new]
        out += [f"{name}: field added or changed: {f}" for f in new if f not in old]
    return out


if __name__ == "__main__":
    json.dump(snapshot(), sys.stdout, indent=1)
    sys.stdout.write("\n")
