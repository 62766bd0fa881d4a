"""The code that runs inside TorchServe's Python worker: vxserve's handler over a batch.

TorchServe batches *requests* (each a Vertex `{"instances", "parameters"}` body) and calls
one `handle(data, context)` with all of them. Each request is validated on its own, its
instances are grouped by shape with those of the other requests, one forward pass runs per
shape group (vxserve.batching.run_group, which re-runs members alone if a combined pass
fails), and each request gets its own HTTP status through `context.set_response_status`,
so a bad request answers 400 and never fails the good ones batched with it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from vxserve.artifacts import read_manifest
from vxserve.batching import Work, as_serve_error, run_group
from vxserve.config import ServeConfig
from vxserve.device import select_device
from vxserve.errors import ServeError
from vxserve.handler import BaseHandler, ModelContext, load_handler

from .envelope import parse_body

log = logging.getLogger("vxts.worker")


def _device(config: ServeConfig, gpu_id: Any) -> Any:
    """TorchServe assigns each worker a GPU; honour it when the config leaves the choice open."""
    import torch

    if config.device == "auto" and gpu_id is not None and torch.cuda.is_available():
        return torch.device(f"cuda:{int(gpu_id)}")
    return select_device(config)


class VertexBatchHandler:
    """Holds the vxserve handler for one worker and serves TorchServe batches with it."""

    def __init__(self) -> None:
        self.handler: BaseHandler | None = None
        self.config: ServeConfig | None = None

    def initialize(self, model_dir: str, gpu_id: Any) -> None:
        """Load and warm the model; TorchServe marks the worker READY only after this."""
        started = time.monotonic()
        config = ServeConfig.from_env()
        manifest = read_manifest(Path(model_dir))
        handler = load_handler(config.handler or manifest.handler, manifest.directory)
        device = _device(config, gpu_id)
        handler.initialize(ModelContext(config=config, manifest=manifest, device=device))
        if config.warmup:
            examples = handler.warmup_instances()
            if examples:
                # Twice: the first pass pays for lazy initialisation, the second for
                # allocator growth at the batch size.
                handler.handle(examples, {})
                handler.handle(examples * max(1, min(config.batch_size, 8)), {})
        self.handler, self.config = handler, config
        log.warning("vxts worker ready in %.2fs (format %s, handler %s)",
                    time.monotonic() - started, manifest.format, type(handler).__name__)

    def handle_batch(self, bodies: list[Any]) -> list[tuple[int, Any]]:
        """One (status, body) per request, in order."""
        assert self.handler is not None, "initialize() was not called"
        handler = self.handler
        results: list[tuple[int, Any] | None] = [None] * len(bodies)
        parsed: dict[int, tuple[list[Any], dict[str, Any]]] = {}
        groups: dict[Hashable, list[Work]] = {}
        owners: dict[int, list[tuple[list[int], Work]]] = {}
        for r, body in enumerate(bodies):
            try:
                instances, parameters = parse_body(body)
                items = handler.preprocess(instances, parameters)
            except Exception as exc:
                results[r] = _error(as_serve_error(exc))
                continue
            parsed[r] = (instances, parameters)
            by_key: dict[Hashable, list[int]] = {}
            for i, item in enumerate(items):
                by_key.setdefault(handler.shape_key(item), []).append(i)
            for key, indices in by_key.items():
                work = Work(key, [items[i] for i in indices])
                groups.setdefault(key, []).append(work)
                owners.setdefault(r, []).append((indices, work))
        for works in groups.values():
            run_group(handler, works)
        for r, parts in owners.items():
            instances, parameters = parsed[r]
            predictions: list[Any] = [None] * len(instances)
            try:
                for indices, work in parts:
                    outputs = work.future.result(timeout=0)
                    for i, p in zip(indices, handler.postprocess(outputs, parameters), strict=True):
                        predictions[i] = p
            except Exception as exc:
                results[r] = _error(as_serve_error(exc))
                continue
            results[r] = (200, {"predictions": predictions})
        return [res if res is not None else _error(as_serve_error(RuntimeError("no result")))
                for res in results]


def _error(err: ServeError) -> tuple[int, Any]:
    return err.http_status, err.to_body()
