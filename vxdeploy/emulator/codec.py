"""Transcoding between HTTP requests and the SDK's own message types.

Bodies are parsed and printed with `json_format` on the installed SDK's messages so the
wire format (camelCase names, int64 as strings, enums, Timestamps, Any) is exactly what the
clients produce and expect. v1 and v1beta1 share field numbers for everything served, so a
message crosses versions by serialising it in one and parsing it in the other.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from google.protobuf import json_format
from google.protobuf.message import Message

from vxdeploy.emulator.errors import invalid
from vxdeploy.emulator.routes import Route

# Query parameters every client adds that carry no request field.
_TRANSPORT_PARAMS = ("$alt", "alt", "prettyPrint", "$prettyPrint", "key", "fields", "$fields")


def _pb(message: Any) -> Message:
    return message._pb if hasattr(message, "_pb") else message


def _set_path(target: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        target = target.setdefault(_camel(part), {})
    target[_camel(parts[-1])] = value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _field_is_repeated(descriptor: Any, dotted_camel: str) -> bool:
    for part in dotted_camel.split("."):
        field = descriptor.fields_by_camelcase_name.get(part) or descriptor.fields_by_name.get(part)
        if field is None:
            return False
        if field.message_type is not None and part != dotted_camel.split(".")[-1]:
            descriptor = field.message_type
            continue
        repeated = getattr(field, "is_repeated", None)  # protobuf >= 5.x renamed `label`
        return bool(repeated) if repeated is not None else field.label == field.LABEL_REPEATED
    return False


def _field(descriptor: Any, dotted_camel: str) -> Any:
    field = None
    for part in dotted_camel.split("."):
        if descriptor is None:
            return None
        field = descriptor.fields_by_camelcase_name.get(part) or descriptor.fields_by_name.get(part)
        if field is None:
            return None
        descriptor = field.message_type
    return field


def _mask_to_json(value: str) -> str:
    """A FieldMask query value in proto3 JSON form (camelCase paths).

    gcloud sends `updateMask=display_name,traffic_split` (snake_case) where the GAPIC
    clients send camelCase; Google's front end accepts both spellings, json_format only
    the latter.
    """
    return ",".join(".".join(_camel(part) for part in path.strip().split("."))
                    for path in value.split(",") if path.strip())


def decode_request(route: Route, path_vars: dict[str, str], query: str, body: bytes) -> Any:
    """Build the route's request message from path variables, query string and body."""
    request_type = route.request_type
    pb = request_type.pb(request_type()) if hasattr(request_type, "pb") else request_type()
    data: dict[str, Any] = {}
    if route.body and body.strip():
        try:
            parsed = json.loads(body)
        except ValueError as exc:
            raise invalid(f"Invalid JSON payload received. {exc}") from exc
        if not isinstance(parsed, dict):
            raise invalid("Invalid JSON payload received. Expected an object.")
        if route.body == "*":
            data = parsed
        else:
            data[_camel(route.body)] = parsed
    grouped: dict[str, list[str]] = {}
    for key, item in parse_qsl(query, keep_blank_values=True):
        if key in _TRANSPORT_PARAMS:
            continue
        grouped.setdefault(key, []).append(item)
    for key, values in grouped.items():
        camel_key = ".".join(_camel(part) for part in key.split("."))
        value: Any = values if _field_is_repeated(pb.DESCRIPTOR, camel_key) else values[-1]
        field = _field(pb.DESCRIPTOR, camel_key)
        if field is not None and field.message_type is not None and \
                field.message_type.full_name == "google.protobuf.FieldMask":
            value = _mask_to_json(",".join(values))
        _set_path(data, camel_key, value)
    for dotted, value in path_vars.items():
        _set_path(data, dotted, value)
    try:
        json_format.ParseDict(data, pb, ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        raise invalid(f"Invalid JSON payload received. {exc}") from exc
    return request_type.wrap(pb) if hasattr(request_type, "wrap") else pb


def to_json_dict(message: Any) -> dict[str, Any]:
    """The proto3 JSON form clients parse (camelCase names, enum names)."""
    as_dict: dict[str, Any] = json_format.MessageToDict(_pb(message),
                                                         preserving_proto_field_name=False)
    return as_dict


def encode(message: Any) -> bytes:
    return json.dumps(to_json_dict(message), separators=(",", ":")).encode()


def convert(message: Any, target_type: Any) -> Any:
    """Re-type a proto-plus message in the other API version (same field numbers)."""
    if type(message) is target_type:
        return message
    return target_type.deserialize(type(message).serialize(message))


def version_type(message_type: Any, version: str) -> Any:
    """The class of the same name in `aiplatform_{version}.types` (v1 <-> v1beta1)."""
    import importlib

    module_name = re.sub(r"aiplatform_v1(beta1)?\.", f"aiplatform_{version}.",
                         message_type.__module__)
    obj: Any = importlib.import_module(module_name)
    for part in message_type.__qualname__.split("."):
        obj = getattr(obj, part)
    return obj
