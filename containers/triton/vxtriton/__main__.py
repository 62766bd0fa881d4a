"""Start Triton on the user's artifacts and answer Vertex's routes in front of it.

Triton's own Vertex mode (`--allow-vertex-ai`, on by default when AIP_MODE=PREDICTION,
listening on AIP_HTTP_PORT and serving AIP_PREDICT_ROUTE / AIP_HEALTH_ROUTE) forwards the
body as a KServe v2 inference request, not Vertex's `{"instances": [...]}`. So this thin
front owns AIP_HTTP_PORT, maps `instances` onto the model's INPUT__0 and OUTPUT__0 back
onto `predictions`, and keeps Triton itself on loopback ports. Triton's answer to bad input
(its 400 and the handler's message) is passed through, the instance it names renumbered
to the caller's (the front sends instances of one shape as one multi-row request).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from vxtriton.repository import MODEL_NAME, RepositoryError, TritonSettings, generate

log = logging.getLogger("vxtriton")
V2_DTYPES = {"TYPE_INT64": "INT64", "TYPE_INT32": "INT32", "TYPE_FP32": "FP32",
             "TYPE_FP16": "FP16", "TYPE_BOOL": "BOOL"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_tritonserver() -> tuple[Path, dict[str, str]]:
    """The tritonserver binary and the environment it needs.

    In the image: `tritonserver` on PATH (NVIDIA's image). Locally: the binary bundled in
    the nvidia-pytriton wheel, with its shared libraries and a backend folder holding the
    Python backend plus the stub built for this interpreter's version.
    """
    env = dict(os.environ)
    on_path = shutil.which("tritonserver")
    if on_path:
        return Path(on_path), env
    package = pytriton_dir()
    root = package / "tritonserver"
    libs = package.parent / "nvidia_pytriton.libs"
    import sysconfig

    libdir = sysconfig.get_config_var("LIBDIR") or ""
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        part for part in (str(libs), libdir, env.get("LD_LIBRARY_PATH", "")) if part
    )
    return root / "bin" / "tritonserver", env


def pytriton_dir() -> Path:
    """The installed `pytriton` package folder, found without importing it (its import
    pulls in the client libraries, which the bundled server does not need)."""
    import importlib.util

    configured = os.environ.get("VXSERVE_TRITON_PYTRITON_DIR", "").strip()
    if configured:
        return Path(configured)
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise RepositoryError(
            "tritonserver not found: install vxdeploy's `triton` extra (nvidia-pytriton), "
            "set VXSERVE_TRITON_PYTRITON_DIR to its `pytriton` folder, "
            "or run the Triton image"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def backend_dir(work: Path) -> Path | None:
    """A backend folder with the Python backend and this Python's stub (pytriton only)."""
    if shutil.which("tritonserver"):
        return None
    root = pytriton_dir() / "tritonserver"
    target = work / "backends" / "python"
    target.mkdir(parents=True, exist_ok=True)
    for item in (root / "backends" / "python").iterdir():
        shutil.copy2(item, target / item.name)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = root / "python_backend_stubs" / version / "triton_python_backend_stub"
    shutil.copy2(stub, target / stub.name)
    (target / stub.name).chmod(0o755)
    return work / "backends"


class Front(BaseHTTPRequestHandler):
    triton = ""
    metrics = ""
    predict_route = "/predict"
    health_route = "/health"
    dtype = "INT64"
    max_batch_size = 32
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; with Nagle's algorithm on, a keep-alive
        # client's delayed ACK held every answer ~40 ms (bench/serving.py: 15 req/s at c=1).
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        self._send(status, json.dumps({"error": message}).encode())

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == self.health_route:
            status, _ = call(self.triton + "/v2/health/ready", None)
            self._send(200 if status == 200 else 503, b"{}")
        elif path == "/metrics":
            status, body = call(self.metrics + "/metrics", None)
            self._send(status, body, "text/plain; version=0.0.4")
        else:
            self._error(404, f"no route {path}; routes: {self.predict_route}, {self.health_route}")

    def do_POST(self) -> None:
        if self.path.split("?")[0] != self.predict_route:
            self._error(404, f"no route {self.path}; POST {self.predict_route}")
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            data = json.loads(self.rfile.read(length) or b"{}")
        except ValueError as exc:
            self._error(400, f"body is not JSON: {exc}")
            return
        instances = data.get("instances") if isinstance(data, dict) else None
        if not isinstance(instances, list) or not instances:
            self._error(400, 'the body must be a JSON object with a non-empty "instances" list')
            return
        flats: list[list[Any]] = []
        groups: dict[tuple[int, ...], list[int]] = {}
        for index, instance in enumerate(instances):
            flat, shape = flatten(instance)
            if shape is None:
                self._error(400, f"instance {index}: a rectangular list of numbers is required")
                return
            try:
                flats.append(coerce(flat, self.dtype))
            except ValueError as exc:
                self._error(400, f"instance {index}: {exc}")
                return
            groups.setdefault(tuple(shape), []).append(index)
        predictions: list[Any] = [None] * len(instances)
        # Instances of one shape go as one v2 request of up to max_batch_size rows; Triton's
        # dynamic batcher joins them with other callers' requests (its metrics show it).
        for shape, indices in groups.items():
            for start in range(0, len(indices), self.max_batch_size):
                chunk = indices[start : start + self.max_batch_size]
                error = self._infer(chunk, shape, flats, predictions)
                if error is not None:
                    self._send(*error)
                    return
        self._send(200, json.dumps({"predictions": predictions}).encode())


    def _infer(self, chunk: list[int], shape: tuple[int, ...], flats: list[list[Any]],
               predictions: list[Any]) -> tuple[int, bytes] | None:
        """One v2 request for the instances at `chunk`; their predictions, or the error."""
        request = {"inputs": [{"name": "INPUT__0", "datatype": self.dtype,
                               "shape": [len(chunk), *shape],
                               "data": [value for i in chunk for value in flats[i]]}],
                   "outputs": [{"name": "OUTPUT__0", "parameters": {"binary_data": False}}]}
        status, body = call(f"{self.triton}/v2/models/{MODEL_NAME}/infer",
                            json.dumps(request).encode())
        if status != 200:
            return (status if 400 <= status < 600 else 502), renumber(body, chunk)
        output = json.loads(body)["outputs"][0]
        width = int(output["shape"][1])
        data = output["data"]
        for row, index in enumerate(chunk):
            predictions[index] = json.loads(bytes(data[row * width : (row + 1) * width]))
        return None


def renumber(body: bytes, chunk: list[int]) -> bytes:
    """The handler names `instance K` of the rows it got; make K the caller's index."""
    try:
        data = json.loads(body)
        message = str(data["error"])
    except (ValueError, KeyError, TypeError):
        return body

    def caller(match: re.Match[str]) -> str:
        k = int(match.group(1))
        return f"instance {chunk[k]}" if k < len(chunk) else match.group(0)

    data["error"] = re.sub(r"\binstance (\d+)", caller, message, count=1)
    return json.dumps(data).encode()


def flatten(instance: Any) -> tuple[list[Any], list[int] | None]:
    """Row-major values and shape of a nested list; shape None when ragged or not numbers."""
    if isinstance(instance, bool | int | float):
        return [instance], []
    if not isinstance(instance, list) or not instance:
        return [], None
    parts = [flatten(item) for item in instance]
    shapes = [shape for _, shape in parts]
    if any(shape is None or shape != shapes[0] for shape in shapes):
        return [], None
    first = shapes[0]
    assert first is not None
    return [value for values, _ in parts for value in values], [len(instance), *first]


def coerce(values: list[Any], dtype: str) -> list[Any]:
    """Values as Triton's JSON parser takes them for `dtype`.

    Vertex's clients send instances as protobuf Values, so every number arrives as a float
    (`3` becomes `3.0`), which Triton refuses for an integer input; whole floats become
    ints here, anything else is the caller's mistake (ValueError, answered 400).
    """
    if dtype == "BOOL":
        if not all(isinstance(value, bool) for value in values):
            raise ValueError("a BOOL input takes true / false only")
        return values
    if dtype.startswith(("INT", "UINT")):
        bits = int(dtype.lstrip("UINT") or 64)
        low, high = (0, 2**bits - 1) if dtype.startswith("U") else (-(2 ** (bits - 1)),
                                                                   2 ** (bits - 1) - 1)
        whole: list[Any] = []
        for value in values:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(f"{dtype} input takes whole numbers, got {value!r}")
            number = int(value)
            if not low <= number <= high:  # Triton's own parser answers 500 for these
                raise ValueError(f"{dtype} input takes values in [{low}, {high}], got {value!r}")
            whole.append(number)
        return whole
    if any(isinstance(value, bool) for value in values):
        raise ValueError(f"{dtype} input takes numbers, got true / false")
    return values


_local = threading.local()


def call(url: str, body: bytes | None, timeout: float = 60.0) -> tuple[int, bytes]:
    """GET (body None) or POST JSON to Triton on a keep-alive connection of this thread.

    The front serves each client connection on its own thread, so a client that keeps its
    connection also keeps one to Triton instead of a TCP handshake per request.
    """
    parts = urllib.parse.urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Content-Type": "application/json"} if body is not None else {}
    for attempt in (1, 2):
        connections: dict[str, http.client.HTTPConnection] = _local.__dict__.setdefault(
            "connections", {})
        connection = connections.get(parts.netloc)
        if connection is None:
            connection = http.client.HTTPConnection(parts.netloc, timeout=timeout)
            connections[parts.netloc] = connection
        try:
            connection.request("POST" if body is not None else "GET", target, body, headers)
            response = connection.getresponse()
            return int(response.status), response.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            del connections[parts.netloc]
            # a kept connection Triton closed meanwhile: one retry on a fresh one
            if attempt == 2 or isinstance(exc, TimeoutError):
                return 503, json.dumps({"error": f"triton unreachable: {exc}"}).encode()
    raise AssertionError("unreachable")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s vxtriton %(message)s")
    from vxserve.artifacts import fetch_artifacts
    from vxserve.config import ServeConfig

    config = ServeConfig.from_env()
    work = Path(tempfile.mkdtemp(prefix="vxtriton-"))
    artifacts = fetch_artifacts(config.storage_uri, config.cache_dir)
    generate(artifacts, work / "models")
    config_text = (work / "models" / MODEL_NAME / "config.pbtxt").read_text()
    dtype = next((v2 for key, v2 in V2_DTYPES.items() if key in config_text), "FP32")
    binary, env = find_tritonserver()
    http_port, metrics_port = free_port(), free_port()
    env["AIP_STORAGE_URI"] = str(artifacts)  # the Python model loads the fetched copy
    env.pop("AIP_MODE", None)  # Triton's own Vertex listener would take AIP_HTTP_PORT
    args = [str(binary), f"--model-repository={work / 'models'}",
            "--http-address=127.0.0.1", f"--http-port={http_port}", "--allow-grpc=false",
            "--allow-vertex-ai=false", "--metrics-address=127.0.0.1",
            f"--metrics-port={metrics_port}", "--allow-gpu-metrics=false"]
    backends = backend_dir(work)
    if backends is not None:
        args.append(f"--backend-directory={backends}")
    triton = subprocess.Popen(args, env=env)
    Front.triton = f"http://127.0.0.1:{http_port}"
    Front.metrics = f"http://127.0.0.1:{metrics_port}"
    Front.predict_route = os.environ.get("AIP_PREDICT_ROUTE", "/predict")
    Front.health_route = os.environ.get("AIP_HEALTH_ROUTE", "/health")
    Front.dtype = dtype
    Front.max_batch_size = TritonSettings.from_env(os.environ).max_batch_size
    host = os.environ.get("VXSERVE_HTTP_HOST", "0.0.0.0")  # the emulator sets 127.0.0.1
    server = ThreadingHTTPServer((host, int(os.environ.get("AIP_HTTP_PORT", "8080"))), Front)

    def stop(*_: Any) -> None:
        triton.terminate()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    log.info("front on %s:%s, triton on 127.0.0.1:%s", host, server.server_port, http_port)
    try:
        server.serve_forever()
    finally:
        triton.terminate()
        try:
            triton.wait(timeout=30)
        except subprocess.TimeoutExpired:
            triton.kill()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def run() -> int:
    """main() with start-up mistakes (a bad setting, no binary) as one line, exit code 2."""
    from vxserve.errors import ConfigError

    try:
        return main()
    except (RepositoryError, ConfigError) as exc:
        print(f"vxtriton: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(run())
