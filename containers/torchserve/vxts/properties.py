"""Render TorchServe's config.properties from the settings and the ports chosen at start.

Everything TorchServe would otherwise put in the current directory or in a shared /tmp
(model store, logs, the worker sockets, the JVM's temp files) points into one work folder,
and every listener is on loopback on a port picked free at start, so two servers can run
side by side on one machine (the emulator does exactly that during a canary).
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path

from .settings import TorchServeSettings


@dataclass(frozen=True)
class Ports:
    """TorchServe's listeners; all on 127.0.0.1, only the front faces the network."""

    inference: int
    management: int
    metrics: int
    grpc_inference: int
    grpc_management: int
    # Workers talk to the frontend over Unix sockets named after this number, inside
    # java.io.tmpdir; the per-server tmpdir is what keeps two servers apart.
    worker: int = 9000


def free_ports(count: int) -> list[int]:
    """Ask the kernel for `count` distinct free loopback ports (held open together)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def taken_ports(ports: Ports) -> list[int]:
    """The ports of `ports` that someone else holds now (free ports are only a snapshot:
    another process may bind one before the JVM does)."""
    taken = []
    listeners = (ports.inference, ports.management, ports.metrics, ports.grpc_inference,
                 ports.grpc_management)
    for port in listeners:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                taken.append(port)
    return taken


def pick_ports() -> Ports:
    inference, management, metrics, grpc_inference, grpc_management = free_ports(5)
    return Ports(inference, management, metrics, grpc_inference, grpc_management)


def render_properties(settings: TorchServeSettings, ports: Ports, model_store: Path) -> str:
    """The config.properties text. Pure, so it is tested without starting a JVM."""
    serve = settings.serve
    model = {
        settings.model_name: {
            "1.0": {
                "defaultVersion": True,
                "marName": settings.model_name,
                "minWorkers": settings.workers,
                "maxWorkers": settings.workers,
                "batchSize": settings.torchserve_batch_size,
                "maxBatchDelay": settings.max_batch_delay_ms,
                "responseTimeout": max(1, round(serve.predict_timeout_s)),
                # Worker start includes loading and warming the model: allow the whole
                # readiness budget rather than TorchServe's 120 s default.
                "startupTimeout": max(1, round(settings.ready_timeout_s)),
            }
        }
    }
    lines = {
        "inference_address": f"http://127.0.0.1:{ports.inference}",
        "management_address": f"http://127.0.0.1:{ports.management}",
        "metrics_address": f"http://127.0.0.1:{ports.metrics}",
        "grpc_inference_address": "127.0.0.1",
        "grpc_inference_port": str(ports.grpc_inference),
        "grpc_management_address": "127.0.0.1",
        "grpc_management_port": str(ports.grpc_management),
        "initial_worker_port": str(ports.worker),
        # Vertex authenticates callers before they reach the container; TorchServe's
        # token files would only lock out the front.
        "disable_token_authorization": "true",
        # The model is loaded from config at start; nobody may register others at runtime.
        "enable_model_api": "false",
        "model_store": str(model_store),
        "allowed_urls": f"file://{model_store}/.*",
        "load_models": settings.model_name,
        "models": json.dumps(model, separators=(",", ":")),
        "default_workers_per_model": str(settings.workers),
        "job_queue_size": str(serve.max_queue),
        "max_request_size": str(settings.request_limit_bytes),
        "max_response_size": str(settings.response_limit_bytes),
        "default_response_timeout": str(max(1, round(serve.predict_timeout_s))),
        "metrics_mode": "prometheus",
        # Lets the handler's own counters (VxtsBatches, VxtsBatchRequests) reach /metrics
        # without a metrics.yaml listing them.
        "model_metrics_auto_detect": "true",
        "async_logging": "true",
    }
    if settings.stock:
        # Vertex bodies in, one handler item per instance, {"predictions"} out: what
        # Vertex AI's prebuilt PyTorch images configure for stock TorchServe handlers.
        lines["service_envelope"] = "json"
    if settings.vmargs:
        lines["vmargs"] = settings.vmargs
    header = "# Rendered by vxts at start from AIP_* and VXSERVE_* variables; do not edit.\n"
    return header + "".join(f"{key}={value}\n" for key, value in lines.items())
