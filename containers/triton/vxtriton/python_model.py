"""Triton Python-backend model: runs the user's artifact through vxserve's handler.

Triton's dynamic batcher hands `execute` several requests at once; their instances are
concatenated into one `handler.handle` call (one forward pass), then split back per
request. A handler error becomes that request's TritonError, which Triton returns as 400.

In an ensemble (repository.py, VXSERVE_TRITON_ENSEMBLE) the same file serves one step,
named by the config's VXSERVE_ROLE parameter: `preprocess` (handler.preprocess: instances
-> the model's input tensor), `infer` (handler.inference on Triton's batch; the image
may run this step on Triton's pytorch / onnxruntime backend instead) or `postprocess`
(handler.postprocess: the model's output rows -> JSON predictions).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import triton_python_backend_utils as pb_utils  # provided by Triton's Python backend


def encode_rows(predictions: list[Any]) -> Any:
    """OUTPUT__0: one UTF-8 JSON document per row, space-padded (UINT8 [n, width]).

    Built through DLPack, not numpy: the Python backend bundled in nvidia-pytriton is
    compiled against numpy 1, and a tensor made from a numpy 2 array reaches Triton empty
    ("output tensor shape does not match size"). Trailing spaces are valid JSON.
    """
    import torch
    from torch.utils.dlpack import to_dlpack

    docs = [json.dumps(item).encode() for item in predictions]
    width = max((len(doc) for doc in docs), default=0)
    padded = bytearray(b"".join(doc.ljust(width) for doc in docs))
    rows = torch.frombuffer(padded, dtype=torch.uint8).reshape(len(docs), width).clone()
    return pb_utils.Tensor.from_dlpack("OUTPUT__0", to_dlpack(rows))


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        # Triton's stub does not pass PYTHONPATH on; the repository generator records
        # where vxserve and the serving packages live in the model config's parameters.
        params = json.loads(args["model_config"]).get("parameters", {})
        paths = params.get("VXSERVE_PYTHONPATH", {}).get("string_value", "")
        for entry in reversed([part for part in paths.split(os.pathsep) if part]):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        from vxserve.artifacts import fetch_artifacts, read_manifest
        from vxserve.config import ServeConfig
        from vxserve.handler import load_handler
        from vxserve.service import PredictionService

        self.role = params.get("VXSERVE_ROLE", {}).get("string_value", "") or "all"
        env = dict(os.environ)
        env["VXSERVE_BATCHING"] = "off"  # Triton's dynamic batcher does the batching
        if self.role in ("preprocess", "postprocess"):
            env["VXSERVE_WARMUP"] = "off"  # these steps never run the model
        config = ServeConfig.from_env(env)
        self.service = PredictionService(config)
        if self.role in ("preprocess", "postprocess"):
            # the handler is built without loading the model (only infer needs it)
            manifest = read_manifest(fetch_artifacts(config.storage_uri, config.cache_dir))
            handler = load_handler(config.handler or manifest.handler, manifest.directory)
            handler.load_model = lambda context: None  # type: ignore[method-assign]
            self.service.handler = handler
        self.service.load()
        if self.service.handler is None or self.service.failure:
            raise pb_utils.TritonModelException(f"model load failed: {self.service.failure}")

    def execute(self, requests: list[Any]) -> list[Any]:
        assert self.service.handler is not None
        if self.role != "all":
            return [self._step(request) for request in requests] if self.role != "infer" \
                else self._infer(requests)
        sizes: list[int] = []
        instances: list[Any] = []
        for request in requests:
            rows = read_input(request)
            sizes.append(len(rows))
            instances.extend(rows)
        try:
            predictions = self.service.handler.handle(instances, {})
        except Exception:
            return [self._one(instances_of(requests, sizes, i)) for i in range(len(sizes))]
        responses = []
        start = 0
        for size in sizes:
            tensor = encode_rows(predictions[start : start + size])
            start += size
            responses.append(pb_utils.InferenceResponse(output_tensors=[tensor]))
        return responses

    def _one(self, instances: list[Any]) -> Any:
        """Run one request alone; its error becomes Triton's error (HTTP 400) for it only."""
        assert self.service.handler is not None
        try:
            predictions = self.service.handler.handle(instances, {})
        except Exception as exc:
            return pb_utils.InferenceResponse(output_tensors=[], error=invalid_argument(str(exc)))
        tensor = encode_rows(predictions)
        return pb_utils.InferenceResponse(output_tensors=[tensor])


    def _step(self, request: Any) -> Any:
        """preprocess or postprocess for one request (they run per request, as in vxserve)."""
        from torch.utils.dlpack import to_dlpack

        handler = self.service.handler
        assert handler is not None
        try:
            if self.role == "preprocess":
                items = handler.preprocess(read_input(request), {})
                batch = handler.collate(items)
                tensor = pb_utils.Tensor.from_dlpack("PREPROCESSED", to_dlpack(batch.contiguous()))
            else:
                scores = from_tensor(pb_utils.get_input_tensor_by_name(request, "SCORES"))
                tensor = encode_rows(handler.postprocess(scores, {}))
        except Exception as exc:
            return pb_utils.InferenceResponse(output_tensors=[], error=invalid_argument(str(exc)))
        return pb_utils.InferenceResponse(output_tensors=[tensor])

    def _infer(self, requests: list[Any]) -> list[Any]:
        """One forward pass over Triton's batch (requests of one shape), rows of float32
        back per request: what Triton's pytorch / onnxruntime backends would answer."""
        import torch
        from torch.utils.dlpack import to_dlpack

        handler = self.service.handler
        assert handler is not None
        parts = [from_tensor(pb_utils.get_input_tensor_by_name(r, "INPUT__0"))
                 for r in requests]
        groups: dict[tuple[int, ...], list[int]] = {}
        for index, part in enumerate(parts):
            groups.setdefault(tuple(part.shape[1:]), []).append(index)
        answers: list[Any] = [None] * len(parts)
        for indices in groups.values():
            try:
                out = handler.inference(torch.cat([parts[i] for i in indices]))
                out = out[0] if isinstance(out, (tuple, list)) else out
                rows = out.float().reshape(out.shape[0], -1).contiguous()
            except Exception as exc:
                for i in indices:
                    answers[i] = pb_utils.InferenceResponse(
                        output_tensors=[], error=pb_utils.TritonError(str(exc)))
                continue
            start = 0
            for i in indices:
                size = parts[i].shape[0]
                chunk = rows[start : start + size].clone()
                start += size
                answers[i] = pb_utils.InferenceResponse(
                    output_tensors=[pb_utils.Tensor.from_dlpack("OUTPUT__0", to_dlpack(chunk))])
        return answers


def from_tensor(tensor: Any) -> Any:
    """A Triton tensor as a torch tensor, through DLPack (see encode_rows)."""
    from torch.utils.dlpack import from_dlpack

    return from_dlpack(tensor.to_dlpack()).clone()


def instances_of(requests: list[Any], sizes: list[int], index: int) -> list[Any]:
    return read_input(requests[index])


def read_input(request: Any) -> list[Any]:
    """INPUT__0 as nested lists, through DLPack (see encode_rows: as_numpy is numpy-1 only)."""
    from torch.utils.dlpack import from_dlpack

    tensor = pb_utils.get_input_tensor_by_name(request, "INPUT__0")
    return list(from_dlpack(tensor.to_dlpack()).tolist())


def invalid_argument(message: str) -> Any:
    """A TritonError Triton answers with HTTP 400 (the user's input, not a server fault)."""
    return pb_utils.TritonError(message, pb_utils.TritonError.INVALID_ARG)
