"""PredictionService: route each request to a deployed model by the endpoint's split.

This is the hot path, so it skips the generic codec: the request body is checked and
forwarded as bytes over a pooled keep-alive connection per model server, and the answer is
the server's predictions plus the fields Vertex adds (deployedModelId, model,
modelVersionId, modelDisplayName). Latency and status go to the metrics store the
Monitoring API reads.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlparse

from vxdeploy.emulator.deployments import is_scale_to_zero
from vxdeploy.emulator.endpoints_service import get_endpoint_record
from vxdeploy.emulator.errors import ApiError, failed_precondition, invalid, status_for_http

if TYPE_CHECKING:
    from random import Random

    from vxdeploy.emulator.context import Predictor
    from vxdeploy.emulator.faults import Faults
    from vxdeploy.emulator.serving import ModelServers
    from vxdeploy.emulator.store import StateStore

SHARED_LIMIT_BYTES = 1_572_864  # shared public endpoints: 1.5 MB
DEDICATED_LIMIT_BYTES = 10 * 1024 * 1024
DEFAULT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Target:
    project: str
    location: str
    endpoint_id: str
    deployed_model_id: str
    model: str
    model_version_id: str
    model_display_name: str
    scale_to_zero: bool
    timeout_s: float
    limit_bytes: int


class Answer(NamedTuple):
    """One Predict or RawPredict answer: status, content type, body and extra headers."""

    status: int
    content_type: str
    body: bytes
    headers: dict[str, str]


class _Pool(threading.local):
    """One keep-alive connection per model server per HTTP thread."""

    def __init__(self) -> None:
        self.connections: dict[str, http.client.HTTPConnection] = {}


_pool = _Pool()


def _connection(base_url: str, timeout: float) -> http.client.HTTPConnection:
    conn = _pool.connections.get(base_url)
    if conn is None:
        parsed = urlparse(base_url)
        conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port,
                                          timeout=timeout)
        conn.connect()
        if conn.sock is not None:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _pool.connections[base_url] = conn
    conn.timeout = timeout
    if conn.sock is not None:
        conn.sock.settimeout(timeout)
    return conn


def _quickack(conn: http.client.HTTPConnection) -> None:
    """ACK the answer's first segment at once (Linux): a server that writes headers and body
    separately with Nagle on would otherwise wait ~40 ms for our delayed ACK."""
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if quickack is not None and conn.sock is not None:
        conn.sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)


def forward(base_url: str, path: str, body: bytes, content_type: str,
            timeout: float) -> tuple[int, str, bytes]:
    """POST to a model server, retrying once on a connection that went stale."""
    for attempt in (0, 1):
        conn = _connection(base_url, timeout)
        try:
            conn.request("POST", path, body=body,
                         headers={"Content-Type": content_type, "Connection": "keep-alive"})
            _quickack(conn)
            response = conn.getresponse()
            data = response.read()
            if response.will_close:
                conn.close()
                _pool.connections.pop(base_url, None)
            return response.status, response.getheader("Content-Type", ""), data
        except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine,
                BrokenPipeError):
            conn.close()
            _pool.connections.pop(base_url, None)
            if attempt:
                raise
        except BaseException:
            conn.close()
            _pool.connections.pop(base_url, None)
            raise
    raise AssertionError("unreachable")


class Router:
    """Chooses the deployed model for each request and forwards it."""

    def __init__(self, store: StateStore, servers: ModelServers, faults: Faults, rng: Random,
                 metrics: Any = None):
        self.store = store
        self.servers = servers
        self.faults = faults
        self.rng = rng
        self.metrics = metrics  # the Monitoring store, or None when it is not served
        self._rng_lock = threading.Lock()

    def _targets(self, endpoint_name: str) -> tuple[list[tuple[Target, int]], bool]:
        store = self.store
        with store.lock:
            endpoint = get_endpoint_record(self, endpoint_name, "endpoint")
            parts = endpoint.name.split("/")
            timeout = DEFAULT_TIMEOUT_S
            if "client_connection_config" in endpoint:
                configured = endpoint.client_connection_config.inference_timeout
                timeout = configured.total_seconds() or DEFAULT_TIMEOUT_S
            limit = DEDICATED_LIMIT_BYTES if endpoint.dedicated_endpoint_enabled \
                else SHARED_LIMIT_BYTES
            out = []
            for dm in endpoint.deployed_models:
                share = endpoint.traffic_split.get(dm.id, 0)
                record = store.models.get(dm.model)
                model = record.versions.get(dm.model_version_id) if record else None
                out.append((Target(parts[1], parts[3], parts[5], dm.id, dm.model,
                                   dm.model_version_id, model.display_name if model else "",
                                   is_scale_to_zero(dm), timeout, limit), share))
            return out, bool(endpoint.deployed_models)

    def choose(self, endpoint_name: str) -> Target:
        targets, any_deployed = self._targets(endpoint_name)
        if not any_deployed:
            raise failed_precondition(f"Endpoint {endpoint_name} has no deployed models.")
        total = sum(share for _target, share in targets)
        if total <= 0:
            raise failed_precondition(f"No deployed model of {endpoint_name} receives traffic: "
                                      "its traffic_split is empty or all zero.")
        with self._rng_lock:
            pick = self.rng.random() * total
        for target, share in targets:
            if share <= 0:
                continue
            pick -= share
            if pick < 0:
                return target
        return next(t for t, share in reversed(targets) if share > 0)

    def predict(self, endpoint_name: str, body: bytes, *, raw: bool,
                content_type: str) -> Answer:
        """The answer to one Predict or RawPredict call.

        RawPredict answers carry `X-Vertex-AI-Endpoint-Id` and `X-Vertex-AI-Deployed-Model-Id`
        as the rawPredict reference documents: the raw body has no room for them.
        """
        started = time.perf_counter()
        target = self.choose(endpoint_name)
        if len(body) > target.limit_bytes:
            raise invalid(f"Request payload size exceeds the limit: {target.limit_bytes} bytes.")
        gapic_raw = False
        instances = 1
        if raw:
            body, content_type, gapic_raw = _unwrap_http_body(body, content_type)
        else:
            instances = _check_predict_body(body)
        status = 500
        try:
            status, out_type, out = self._call(target, body, content_type or "application/json")
            if raw:
                if gapic_raw and status < 400:
                    out = json.dumps({"contentType": out_type or "application/json",
                                      "data": base64.b64encode(out).decode()}).encode()
                    out_type = "application/json"
                return Answer(status, out_type, out, {
                    "X-Vertex-AI-Endpoint-Id": target.endpoint_id,
                    "X-Vertex-AI-Deployed-Model-Id": target.deployed_model_id})
            return Answer(status, "application/json; charset=UTF-8", _decorate(target, out), {})
        except ApiError as error:
            status = error.http_status
            raise
        finally:
            self._record(target, started, status, instances)

    def _call(self, target: Target, body: bytes, content_type: str) -> tuple[int, str, bytes]:
        key = f"{target.endpoint_id}/{target.deployed_model_id}"
        latency_ms, fail_status = self.faults.model(target.deployed_model_id)
        # Read the deployment once: an undeploy racing this request removes it from the
        # registry, and a second lookup would find None (and answer 500, not UNAVAILABLE).
        deployment = self.servers.get(key)
        server = self.servers.pick(key)
        if server is None or deployment is None:
            if target.scale_to_zero and deployment is not None:
                self.servers.start_async(deployment, 1)
                raise ApiError("RESOURCE_EXHAUSTED", f"DeployedModel {target.deployed_model_id} "
                               "is scaled to zero; scaling up now. Retry shortly.")
            detail = f" Last error: {deployment.error}" if deployment and deployment.error else ""
            raise ApiError("UNAVAILABLE", f"No replica of DeployedModel "
                           f"{target.deployed_model_id} is running yet.{detail}")
        if latency_ms:
            time.sleep(latency_ms / 1000.0)
        if fail_status:
            raise ApiError(status_for_http(fail_status), f"Injected failure of DeployedModel "
                           f"{target.deployed_model_id}.", http_status=fail_status)
        spec = deployment.specs[0]
        try:
            status, out_type, out = forward(server.base_url, spec.predict_route, body,
                                            content_type, target.timeout_s)
        except TimeoutError as error:
            raise ApiError("DEADLINE_EXCEEDED", f"The model server did not answer within "
                           f"{target.timeout_s:g}s.") from error
        except OSError as error:
            raise ApiError("UNAVAILABLE", f"The model server is unreachable: {error}") from error
        if status >= 400:
            message = out.decode(errors="replace")[:2000]
            raise ApiError(status_for_http(status), message or f"Model server answered {status}.",
                           http_status=status)
        return status, out_type, out

    def _record(self, target: Target, started: float, status: int, instances: int) -> None:
        metrics = self.metrics
        if metrics is None:
            return
        metrics.record(project=target.project, location=target.location,
                       endpoint_id=target.endpoint_id, deployed_model_id=target.deployed_model_id,
                       latency_ms=(time.perf_counter() - started) * 1000.0, response_code=status,
                       instance_count=instances)


def _check_predict_body(body: bytes) -> int:
    """Validate a Predict body as Vertex does; the number of instances it carries."""
    try:
        data = json.loads(body or b"{}")
    except ValueError as error:
        raise invalid(f"Invalid JSON payload received. {error}") from error
    except RecursionError as error:
        raise invalid("Invalid JSON payload received. The body is nested too deeply.") \
            from error
    if not isinstance(data, dict) or not isinstance(data.get("instances"), list):
        raise invalid('The request must be a JSON object with an "instances" list.', "instances")
    unknown = set(data) - {"instances", "parameters"}
    if unknown:
        raise invalid(f"Invalid JSON payload received. Unknown name {sorted(unknown)[0]!r}: "
                      "allowed: instances, parameters.")
    return len(data["instances"])


def _unwrap_http_body(body: bytes, content_type: str) -> tuple[bytes, str, bool]:
    """RawPredict bodies arrive raw (curl, Vertex) or as an HttpBody JSON (GAPIC REST)."""
    if content_type.startswith("application/json") and body[:1] == b"{":
        try:
            data = json.loads(body)
        except ValueError:
            return body, content_type, False
        wrapped = data.get("httpBody") if isinstance(data, dict) and set(data) == {"httpBody"} \
            else None
        if isinstance(wrapped, dict):
            raw = base64.b64decode(wrapped.get("data", ""))
            return raw, wrapped.get("contentType", "application/json"), True
    return body, content_type, False


def _decorate(target: Target, out: bytes) -> bytes:
    try:
        data: Any = json.loads(out)
    except ValueError as error:
        raise ApiError("INTERNAL", f"The model server returned a body that is not JSON: "
                       f"{out[:200]!r}") from error
    if not isinstance(data, dict) or "predictions" not in data:
        raise ApiError("INTERNAL", 'The model server response has no "predictions" field.')
    response: dict[str, Any] = {"predictions": data["predictions"],
                                "deployedModelId": target.deployed_model_id,
                                "model": target.model,
                                "modelDisplayName": target.model_display_name,
                                "modelVersionId": target.model_version_id}
    if "metadata" in data:
        response["metadata"] = data["metadata"]
    return json.dumps(response, separators=(",", ":")).encode()


def explain(ctx: Predictor, request: Any, version: str) -> Any:
    """Explain: Vertex answers FAILED_PRECONDITION for a deployed model without an
    explanation spec; the emulator computes no attributions, so a model with one is
    UNIMPLEMENTED here rather than answered with made-up numbers."""
    from google.cloud.aiplatform_v1beta1 import types as t

    with ctx.store.lock:
        endpoint = get_endpoint_record(ctx, request.endpoint, "endpoint")
        wanted = request.deployed_model_id
        if wanted:
            dm = next((d for d in endpoint.deployed_models if d.id == wanted), None)
            if dm is None:
                raise ApiError("NOT_FOUND", f"DeployedModel {wanted} does not exist in "
                               f"{endpoint.name}.")
        else:
            target = ctx.router.choose(endpoint.name)
            dm = next(d for d in endpoint.deployed_models if d.id == target.deployed_model_id)
        record = ctx.store.models.get(dm.model)
        model = record.versions.get(dm.model_version_id) if record else None
        has_spec = "explanation_spec" in dm or (model is not None and "explanation_spec" in model)
    if not has_spec:
        raise failed_precondition(f"Deployed model {dm.id} does not support explanation.")
    raise ApiError("UNIMPLEMENTED", f"Deployed model {dm.id} has an explanation spec, but the "
                   "local emulator computes no explanations; use Predict locally and Explain "
                   "on Vertex.")
    return t.ExplainResponse()  # pragma: no cover - the type this RPC answers
