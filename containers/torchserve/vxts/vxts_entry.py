"""TorchServe's handler entry point, copied into the model archive.

Kept to a few lines: the logic lives in `vxts.worker`, importable from PYTHONPATH, so
the archive never holds a second copy of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback
from typing import Any

from vxts.bundling import BUNDLE_HEADER, PARTS_HEADER, frame_answers
from vxts.worker import VertexBatchHandler

_service = VertexBatchHandler()


def handle(data: Any, context: Any) -> Any:
    """TorchServe calls this with data=None once to initialise, then with each batch."""
    if _service.handler is None:
        props = context.system_properties
        try:
            _service.initialize(props.get("model_dir"), props.get("gpu_id"))
        except BaseException:
            _report_load_failure(traceback.format_exc())
            raise
    if data is None:
        return None
    bodies = [row.get("body") if row.get("body") is not None else row.get("data") for row in data]
    if len(bodies) == 1 and context.get_request_header(0, BUNDLE_HEADER):
        return _handle_bundle(bodies[0], context)
    answers = _service.handle_batch(bodies)
    _count_batch(context, len(answers))
    out = []
    for idx, (status, body) in enumerate(answers):
        context.set_response_header(idx, "x-vxts-batch-requests", str(len(answers)))
        if status != 200:
            message = body["error"]["message"] if isinstance(body, dict) and "error" in body else ""
            context.set_response_status(status, message, idx=idx)
        out.append(_encode(body))
        context.set_response_content_type(idx, "application/json")
    return out


def _handle_bundle(bundle: Any, context: Any) -> Any:
    """Several requests the front sent together (vxts.bundling): one answer each, framed."""
    if isinstance(bundle, (bytes, bytearray)):
        bundle = json.loads(bundle)
    answers = _service.handle_batch(list(bundle))
    _count_batch(context, len(answers))
    parts, body = frame_answers([(status, _encode(answer)) for status, answer in answers])
    context.set_response_header(0, PARTS_HEADER, parts)
    context.set_response_content_type(0, "application/octet-stream")
    return [body]


def _count_batch(context: Any, requests: int) -> None:
    """Batch size is otherwise invisible: TorchServe counts requests, not forward passes.
    The ratio VxtsBatchRequests / VxtsBatches on /metrics is the mean batch size."""
    with contextlib.suppress(Exception):
        context.metrics.add_counter("VxtsBatches", 1)
        context.metrics.add_counter("VxtsBatchRequests", requests)


def _encode(answer: Any) -> bytes:
    """Serialised here: TorchServe would otherwise pretty-print with indent=2."""
    return json.dumps(answer, separators=(",", ":")).encode()


LOAD_ERROR_ENV = "VXTS_LOAD_ERROR_FILE"


def _report_load_failure(trace: str) -> None:
    """Make a failed load visible: TorchServe logs a worker's stdout (where its own logging
    goes) at INFO, which vxts keeps quiet, and says only "Worker died." So the traceback
    goes to stderr (logged at WARN, into the server log) and to the file the front watches
    to fail its start at once instead of waiting out its ready timeout."""
    sys.stderr.write(f"vxts: the model failed to load in this worker:\n{trace}")
    sys.stderr.flush()
    path = os.environ.get(LOAD_ERROR_ENV)
    if path:
        with contextlib.suppress(OSError), open(path, "w") as handle:
            handle.write(trace)
