"""Online prediction through the PredictionService (predict and rawPredict)."""

from __future__ import annotations

import json
from typing import Any

from vxdeploy.vertex.connection import Connection
from vxdeploy.vertex.errors import call_api


def predict(conn: Connection, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    from google.protobuf import json_format

    response = call_api("predict", lambda: conn.prediction.predict(
        endpoint=endpoint, instances=body["instances"], parameters=body.get("parameters"),
        timeout=conn.timeout), attempts=1)
    data = json_format.MessageToDict(type(response).pb(response))
    return {"predictions": data.get("predictions", []),
            "deployed_model_id": data.get("deployedModelId", ""),
            "model": data.get("model", ""),
            "model_version_id": data.get("modelVersionId", "")}


def raw_predict(conn: Connection, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    from google.api import httpbody_pb2

    http_body = httpbody_pb2.HttpBody(data=json.dumps(body).encode(),
                                      content_type="application/json")
    response = call_api("raw predict", lambda: conn.prediction.raw_predict(
        endpoint=endpoint, http_body=http_body, timeout=conn.timeout), attempts=1)
    try:
        data = json.loads(response.data or b"{}")
    except json.JSONDecodeError:
        data = {"raw": response.data.decode(errors="replace")}
    return {"predictions": data.get("predictions", data), "deployed_model_id": "",
            "raw": True}
