"""The Vertex request envelope, checked the same way in the front and in the worker."""

from __future__ import annotations

import json
from typing import Any

from vxserve.errors import NESTED_TOO_DEEPLY, InvalidInput


def parse_body(body: Any) -> tuple[list[Any], dict[str, Any]]:
    """Instances and parameters from a request body (bytes, or JSON TorchServe decoded).

    Raises InvalidInput with a message that names what is wrong and what is expected.
    """
    if isinstance(body, (bytes, bytearray, str)):
        if not body:
            raise InvalidInput('request body is empty; expected JSON {"instances": [...]}')
        try:
            body = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise InvalidInput(NESTED_TOO_DEEPLY) from None
    if not isinstance(body, dict):
        raise InvalidInput(
            f'request body must be a JSON object {{"instances": [...]}}, got {type(body).__name__}'
        )
    if "instances" not in body:
        raise InvalidInput('request body has no "instances" (expected {"instances": [...]})')
    instances = body["instances"]
    if not isinstance(instances, list):
        raise InvalidInput(f'"instances" must be a list, got {type(instances).__name__}')
    if not instances:
        raise InvalidInput('"instances" is empty; send at least one instance')
    parameters = body.get("parameters")
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise InvalidInput(f'"parameters" must be a JSON object, got {type(parameters).__name__}')
    return instances, parameters
