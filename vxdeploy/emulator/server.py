"""EmulatorServer: Vertex's REST API on 127.0.0.1, in-process (tests) or as the daemon.

A ThreadingHTTPServer speaking HTTP/1.1 keep-alive with Nagle disabled: Python's
http.server writes headers and body separately, and with Nagle on every call would stall
~40 ms on delayed ACKs. Errors always come back in Vertex's JSON shape, unmatched routes
included, so clients raise their proper exception classes instead of choking on HTML.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from vxdeploy.emulator import admin
from vxdeploy.emulator.codec import convert, decode_request, encode, version_type
from vxdeploy.emulator.config import EmulatorConfig
from vxdeploy.emulator.constants import INFO_FILE
from vxdeploy.emulator.core import Emulator
from vxdeploy.emulator.errors import ApiError
from vxdeploy.emulator.http_guard import refusal
from vxdeploy.emulator.private_files import private_dir, write_private
from vxdeploy.emulator.routes import RouteTable

log = logging.getLogger("vxdeploy.emulator.http")

LOOPBACK = ("127.0.0.1", "::1", "localhost")
_JSON = "application/json; charset=UTF-8"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vxdeploy-emulator"
    emulator: EmulatorServer  # set on the per-server subclass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str = _JSON,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _dispatch(self) -> None:
        self.emulator.dispatch(self)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_OPTIONS = _dispatch


class EmulatorServer:
    """The local Vertex: REST on `rest_url`, Cloud Monitoring gRPC on `grpc_target`."""

    def __init__(self, state_dir: Path, *, host: str = "127.0.0.1", port: int = 0,
                 monitoring: bool = True, seed: int | None = None,
                 inline_wait_s: float | None = None,
                 max_replicas: int | None = None, start_server: Any = None,
                 adopt_server: Any = None, metrics: Any = None,
                 ready_timeout_s: float | None = None, write_info: bool = True,
                 config: EmulatorConfig | None = None):
        if host not in LOOPBACK:
            raise ValueError(f"the emulator binds to loopback only; got host {host!r}, "
                             f"allowed: {', '.join(LOOPBACK)}")
        self.state_dir = Path(state_dir)
        private_dir(self.state_dir)
        self._host, self._port = host, port
        self._monitoring_wanted = monitoring
        self._write_info = write_info
        self.monitoring: Any = None
        if metrics is None and monitoring:
            metrics = _metrics_store(self.state_dir)
        # The environment is read here, once; keyword arguments (tests) win over it.
        config = config or EmulatorConfig.from_env()
        if inline_wait_s is not None:
            config = replace(config, inline_wait_s=inline_wait_s)
        if max_replicas:
            config = replace(config, max_replicas=max_replicas)
        if ready_timeout_s:
            config = replace(config, ready_timeout_s=ready_timeout_s)
        self.emu = Emulator(self.state_dir, config, seed=seed, start_server=start_server,
                            adopt_server=adopt_server, metrics=metrics)
        self.routes = RouteTable()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.started_at = 0.0

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> EmulatorServer:
        handler = type("Handler", (_Handler,), {"emulator": self})
        self._httpd = _HTTPServer((self._host, self._port), handler)
        if self._monitoring_wanted and self.emu.metrics is not None:
            self.monitoring = _start_monitoring(self.emu.metrics, self.state_dir)
        self.emu.restore()
        self.emu.servers.start_monitor()
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, name="emulator-http",
                                        daemon=True)
        self._thread.start()
        self.started_at = time.time()
        if self._write_info:
            self._write_info_file()
        return self

    def stop(self, *, stop_servers: bool = True) -> None:
        """Shut down; `stop_servers=False` leaves model servers running (a crash, in tests)."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self.monitoring is not None:
            self.monitoring.stop()
            self.monitoring = None
        self.emu.servers.shutdown(stop_servers=stop_servers)
        info = self.state_dir / INFO_FILE
        try:
            if json.loads(info.read_text()).get("pid") == os.getpid() and \
                    json.loads(info.read_text()).get("rest_url") == self.rest_url:
                info.unlink()
        except (OSError, ValueError):
            pass

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "start() the server first"
        return self._httpd.server_address[1]

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}" if self._httpd else ""

    @property
    def grpc_target(self) -> str | None:
        return self.monitoring.target if self.monitoring is not None else None

    def info(self) -> dict[str, Any]:
        return {"rest_url": self.rest_url, "grpc_target": self.grpc_target,
                "state_dir": str(self.state_dir), "pid": os.getpid(),
                "started_at": self.started_at}

    def _write_info_file(self) -> None:
        write_private(self.state_dir / INFO_FILE, json.dumps(self.info()))

    # ---- requests --------------------------------------------------------------------
    def dispatch(self, handler: _Handler) -> None:
        started = time.perf_counter()
        method = handler.command
        path, _, query = handler.path.partition("?")
        body = handler._read_body()
        refused = refusal(method, handler.headers, port=self.port, body_length=len(body),
                          raw_body_allowed=path.endswith(":rawPredict"))
        if refused is not None:
            self.emu.requests.add(rpc="", version="", http_method=method, path=path,
                                  resource="", status=refused.http_status, started=started)
            handler._send(refused.http_status, json.dumps(refused.to_json()).encode())
            return
        if path.startswith(admin.PREFIX):
            try:
                handler._send(200, json.dumps(admin.handle(self, method, path, query, body),
                                              default=str).encode())
            except ApiError as error:
                handler._send(error.http_status, json.dumps(error.to_json()).encode())
            return
        rpc, version, resource, status = "", "", "", 500
        out, content_type = b"", _JSON
        headers: dict[str, str] = {}
        try:
            found = self.routes.match(method, path)
            if found is None:
                allowed = self.routes.methods_for(path)
                if allowed:
                    raise ApiError("UNIMPLEMENTED", f"Method {method} is not allowed for {path}; "
                                   f"allowed: {', '.join(allowed)}.", http_status=405)
                raise ApiError("NOT_FOUND", f"The emulator serves no route {method} {path}. "
                               "It serves ModelService, EndpointService, PredictionService and "
                               "Operations under /v1 and /v1beta1.")
            route, path_vars = found
            rpc, version = route.rpc, route.version
            resource = next(iter(path_vars.values()), "")
            fault = self.emu.faults.take_rpc(rpc)
            if fault is not None:
                raise fault
            if rpc in ("Predict", "RawPredict"):
                if "publishers/" in resource:
                    raise ApiError("UNIMPLEMENTED", "Publisher models are not served by the "
                                   "local emulator.")
                status, content_type, out, headers = self.emu.router.predict(
                    resource, body, raw=rpc == "RawPredict",
                    content_type=handler.headers.get("Content-Type", "application/json"))
            else:
                status, out = 200, self._call(route, path_vars, query, body)
        except ApiError as error:
            status, out = error.http_status, json.dumps(error.to_json()).encode()
            content_type = _JSON
        except RecursionError:  # e.g. 100 KB of "[": the caller's mistake, not ours
            status, content_type = 400, _JSON
            out = json.dumps(ApiError("INVALID_ARGUMENT", "Invalid JSON payload received. "
                                      "The body is nested too deeply.").to_json()).encode()
        except Exception as error:  # an emulator bug: answer in Vertex's shape, and log it
            log.exception("internal error on %s %s", method, path)
            status, content_type = 500, _JSON
            out = json.dumps(ApiError("INTERNAL", f"{type(error).__name__}: {error}")
                             .to_json()).encode()
        # Log before answering: a client holding its response can always find the entry.
        self.emu.requests.add(rpc=rpc, version=version, http_method=method, path=path,
                              resource=resource, status=status, started=started)
        handler._send(status, out, content_type, headers)

    def _call(self, route: Any, path_vars: dict[str, str], query: str, body: bytes) -> bytes:
        request = decode_request(route, path_vars, query, body)
        extra = {}
        if route.rpc in ("ListModels", "ListModelVersions", "ListEndpoints"):
            # v1 has order_by where v1beta1 lacks it: read it before converting.
            extra["order_by"] = getattr(request, "order_by", "") \
                if "order_by" in type(request).meta.fields else ""
        if hasattr(request, "_pb"):
            request = convert(request, version_type(type(request), "v1beta1"))
        result = self.emu.handle(route.rpc, request, route.version, **extra)
        if isinstance(result, dict):  # an Operation, already in its version's JSON
            return json.dumps(result, separators=(",", ":")).encode()
        return encode(convert(result, version_type(type(result), route.version)))


def _metrics_store(state_dir: Path) -> Any:
    try:
        from vxdeploy.emulator.monitoring import MetricsStore
    except ImportError:
        log.warning("vxdeploy.emulator.monitoring is not available: metrics are not recorded")
        return None
    return MetricsStore(state_dir)


def _start_monitoring(metrics: Any, state_dir: Path) -> Any:
    try:
        from vxdeploy.emulator.monitoring import start_monitoring_server
    except ImportError:
        return None
    return start_monitoring_server(metrics, state_dir)
