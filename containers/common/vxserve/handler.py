"""The handler interface: the user's pre- and post-processing around one model.

Shaped like TorchServe's handlers, split finer so the server can batch across requests:

    preprocess(instances, parameters) -> one array per instance     (per request; validates)
    shape_key(item)                   -> which items may share a batch
    collate(items)                    -> one batch                   (across requests)
    inference(batch)                  -> model outputs               (one forward pass)
    split(outputs, sizes)             -> outputs per request         (back across requests)
    postprocess(outputs, parameters)  -> one JSON-able prediction per instance (per request)

Validation lives in `preprocess`, which runs per request before anything is batched, so a
bad request answers 400 alone and never fails the good requests it would have joined.
Arrays are torch tensors in the defaults; a backend that is not torch (ONNX Runtime)
overrides `load_model`, `preprocess`, `collate`, `inference` and `split` with numpy.

Instances of different lengths are never silently padded: by default they are grouped
by shape and each group runs as its own forward pass, so results equal unbatched eager
PyTorch exactly. A model that masks padding may set `pad_value` (manifest "pad_value")
and then ragged instances are right-padded along their first axis to the longest in the
batch, with outputs returned at the padded length.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .artifacts import HANDLER_FILE, Manifest
from .compiled import maybe_compile
from .config import ServeConfig
from .errors import ConfigError, InvalidInput
from .loading import import_file, load_torch_model
from .precision import inference_context, to_full_precision

F = TypeVar("F", bound=Callable[..., Any])

_DTYPES = {
    "float32": "float32",
    "float": "float32",
    "float16": "float16",
    "bfloat16": "bfloat16",
    "float64": "float64",
    "int64": "int64",
    "long": "int64",
    "int32": "int32",
    "int": "int64",
    "bool": "bool",
}


@dataclass
class ModelContext:
    """What a handler gets at initialize: settings, the artifacts' manifest, the device."""

    config: ServeConfig
    manifest: Manifest
    device: Any  # torch.device for torch backends; whatever a custom backend chooses otherwise


class BaseHandler:
    """Subclass and override the steps you need; the defaults serve plain tensors."""

    #: per-instance dtype ("int64", "float32", ...); None infers int64 for ints, else float32
    input_dtype: str | None = None
    #: per-instance shape; None entries accept any size; None accepts any shape
    input_shape: tuple[int | None, ...] | None = None
    #: inclusive [min, max] allowed values (e.g. token ids below the vocabulary size)
    input_range: tuple[float, float] | None = None
    #: right-pad ragged instances with this value instead of grouping them by shape
    pad_value: float | int | None = None

    def initialize(self, context: ModelContext) -> None:
        """Load the model; called once, before warm-up and before health turns 200."""
        self.context = context
        self.device = context.device
        m = context.manifest
        self.input_dtype = m.input_dtype or self.input_dtype
        self.input_shape = m.input_shape if m.input_shape is not None else self.input_shape
        self.pad_value = m.pad_value if m.pad_value is not None else self.pad_value
        self.input_range = m.input_range if m.input_range is not None else self.input_range
        self.model = self.load_model(context)

    def load_model(self, context: ModelContext) -> Any:
        model = load_torch_model(context.manifest, context.device)
        # torch.compile when the manifest or VXSERVE_COMPILE asks (warmed up here).
        return maybe_compile(model, context.manifest, context.config, context.device)

    # -- per request -------------------------------------------------------------------
    def preprocess(self, instances: list[Any], parameters: dict[str, Any]) -> list[Any]:
        """Turn JSON instances into one tensor each; raise InvalidInput naming the problem."""
        import torch

        dtype_name = _DTYPES.get(self.input_dtype or "")
        if self.input_dtype and dtype_name is None:
            raise ConfigError(
                f"input dtype {self.input_dtype!r} is not one of: {', '.join(_DTYPES)}"
            )
        tensors: list[Any] | None = None
        try:
            whole = torch.as_tensor(instances)  # fast path: every instance the same shape
        except (ValueError, TypeError, RuntimeError):
            whole = None
        try:
            mixed_bools = (
                whole is not None and whole.dtype != torch.bool and _has_bool(instances)
            )
        except RecursionError:
            raise InvalidInput("instances are nested too deeply to be an array") from None
        if mixed_bools:
            whole = None  # torch turns true/false into 1/0 next to numbers; refuse them
        if whole is not None and whole.dim() >= 1:
            try:
                self._check_values(whole, dtype_name, None)
                tensors = list(whole.unbind(0))
            except InvalidInput:
                tensors = None  # re-check one by one so the message names the bad instance
        if tensors is None:
            tensors = [self._to_tensor(i, x, dtype_name) for i, x in enumerate(instances)]
        items: list[Any] = []
        for index, tensor in enumerate(tensors):
            self._check_shape(index, tensor)
            items.append(
                tensor.to(getattr(torch, dtype_name)) if dtype_name else _default_cast(tensor)
            )
        return items

    def postprocess(self, outputs: Any, parameters: dict[str, Any]) -> list[Any]:
        """Model outputs for one request -> JSON-able predictions, one per instance."""
        return _to_python(outputs)

    # -- across requests ---------------------------------------------------------------
    def shape_key(self, item: Any) -> Hashable:
        """Items with equal keys may share one forward pass."""
        shape = tuple(item.shape)
        if self.pad_value is not None and shape:
            shape = (None, *shape[1:])
        return (shape, str(item.dtype))

    def collate(self, items: Sequence[Any]) -> Any:
        import torch

        if self.pad_value is not None and len({tuple(t.shape) for t in items}) > 1:
            longest = max(t.shape[0] for t in items)
            padded = []
            for t in items:
                pad = torch.full(
                    (longest - t.shape[0], *t.shape[1:]), self.pad_value, dtype=t.dtype
                )
                padded.append(torch.cat([t, pad]) if pad.shape[0] else t)
            items = padded
        return torch.stack(list(items))

    def inference(self, batch: Any) -> Any:
        """One forward pass on the device (under inference_mode and optional autocast)."""
        autocast = self.context.config.autocast
        with inference_context(self.device, autocast):
            out = self.model(batch.to(self.device, non_blocking=True))
        return to_full_precision(_to_cpu(out)) if autocast != "off" else _to_cpu(out)

    def split(self, outputs: Any, sizes: Sequence[int]) -> list[Any]:
        """Cut batch outputs (a tensor, or a tuple/list/dict of tensors) into per-request parts."""
        return _split(outputs, list(sizes))

    # -- warm-up -----------------------------------------------------------------------
    def warmup_instances(self) -> list[Any]:
        """Instances for warm-up: the manifest's examples, else zeros of the declared shape."""
        examples = self.context.manifest.example_instances
        if examples:
            return list(examples)
        if self.input_shape is None:
            return []
        shape = [8 if d is None else int(d) for d in self.input_shape]
        fill: float | int = 0 if (self.input_dtype or "").startswith("int") else 0.0
        if self.input_range is not None:
            fill = type(fill)(self.input_range[0])
        return [_nested(shape, fill)]

    # -- checks ------------------------------------------------------------------------
    def _to_tensor(self, index: int, instance: Any, dtype_name: str | None) -> Any:
        import torch

        try:
            tensor = torch.as_tensor(instance)
        except (ValueError, TypeError, RuntimeError) as exc:
            raise InvalidInput(
                f"instance {index}: not a rectangular array of numbers ({_first_line(exc)})"
            ) from None
        if tensor.dtype != torch.bool and dtype_name != "bool" and _has_bool(instance):
            raise InvalidInput(f"instance {index}: expected numbers, got booleans")
        self._check_values(tensor, dtype_name, index)
        return tensor

    def _check_values(self, tensor: Any, dtype_name: str | None, index: int | None) -> None:
        import torch

        where = f"instance {index}" if index is not None else "instances"
        if tensor.dtype == torch.bool and dtype_name != "bool":
            raise InvalidInput(f"{where}: expected numbers, got booleans")
        wants_int = dtype_name is not None and dtype_name.startswith("int")
        is_float = tensor.is_floating_point()
        fractional = is_float and not bool(torch.all(tensor == torch.round(tensor)))
        if wants_int and fractional:
            raise InvalidInput(f"{where}: expected integers ({dtype_name}), got fractional numbers")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise InvalidInput(f"{where}: contains NaN or infinity")
        if self.input_range is not None and tensor.numel():
            low, high = self.input_range
            if float(tensor.min()) < low or float(tensor.max()) > high:
                raise InvalidInput(
                    f"{where}: values must lie in [{_num(low)}, {_num(high)}], "
                    f"got min {_num(float(tensor.min()))} and max {_num(float(tensor.max()))}"
                )

    def _check_shape(self, index: int, tensor: Any) -> None:
        if tensor.dim() and not tensor.numel():
            # No model computes anything from zero values; torch would fail deep inside.
            raise InvalidInput(
                f"instance {index} is empty (shape {list(tensor.shape)}); "
                "send at least one value per instance"
            )
        expected = self.input_shape
        if expected is None:
            if tensor.dim() == 0:
                raise InvalidInput(f"instance {index}: expected an array, got a single number")
            return
        shape = tuple(tensor.shape)
        want = "[" + ", ".join("any" if e is None else str(e) for e in expected) + "]"
        if not shape and expected:
            raise InvalidInput(f"instance {index}: expected an array of shape {want}, got a number")
        ok = len(shape) == len(expected) and all(
            e is None or e == s for e, s in zip(expected, shape, strict=False)
        )
        if not ok:
            raise InvalidInput(f"instance {index} has shape {list(shape)}, expected {want}")

    def handle(self, instances: list[Any], parameters: dict[str, Any]) -> list[Any]:
        """All steps for one request without cross-request batching (TorchServe-style)."""
        items = self.preprocess(instances, parameters)
        predictions: list[Any] = [None] * len(items)
        for indices in group_by_key(self, items).values():
            outputs = self.inference(self.collate([items[i] for i in indices]))
            for i, p in zip(indices, self.postprocess(outputs, parameters), strict=True):
                predictions[i] = p
        return predictions


class TensorHandler(BaseHandler):
    """Default: numbers in, the model's raw output rows out as nested lists."""


class ClassificationHandler(BaseHandler):
    """Logits in, {"label", "confidence", "probabilities"} out, labels from index_to_name.json."""

    def initialize(self, context: ModelContext) -> None:
        super().initialize(context)
        labels = context.manifest.labels
        if not labels:
            raise ConfigError(
                f"{context.manifest.directory}: the classification handler needs index_to_name.json"
            )
        self.labels = labels

    def postprocess(self, outputs: Any, parameters: dict[str, Any]) -> list[Any]:
        import torch

        logits = outputs[0] if isinstance(outputs, (tuple, list)) else outputs
        if logits.dim() != 2 or logits.shape[1] != len(self.labels):
            raise ConfigError(
                f"model returned shape {list(logits.shape)}; the classification handler needs "
                f"[batch, {len(self.labels)}] (one logit per label in index_to_name.json)"
            )
        probs = torch.softmax(logits.float(), dim=1)
        confidence, best = probs.max(dim=1)
        rows = probs.tolist()
        return [
            {
                "label": self.labels[int(b)],
                "confidence": float(c),
                "probabilities": dict(zip(self.labels, row, strict=True)),
            }
            for b, c, row in zip(best.tolist(), confidence.tolist(), rows, strict=True)
        ]


BUILTIN_HANDLERS: dict[str, type[BaseHandler]] = {
    "tensor": TensorHandler,
    "classification": ClassificationHandler,
}


def load_handler(spec: str, artifact_dir: Path) -> BaseHandler:
    """Create the handler named by `spec` (VXSERVE_HANDLER or the manifest's "handler").

    "tensor" / "classification": built in. "handler.py" or "handler.py:Class": a file in the
    artifact directory. "package.module:Class": a module importable in the image.
    """
    if spec in BUILTIN_HANDLERS:
        return BUILTIN_HANDLERS[spec]()
    target, _, attr = spec.partition(":")
    if target.endswith(".py"):
        module = import_file(Path(artifact_dir) / target)
    elif attr:
        import importlib

        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ConfigError(f"handler {spec!r}: cannot import {target!r} ({exc})") from None
    else:
        raise ConfigError(
            f"handler {spec!r} is not one of: {', '.join(BUILTIN_HANDLERS)}, "
            f"{HANDLER_FILE}[:Class], package.module:Class"
        )
    if attr:
        cls = getattr(module, attr, None)
        if cls is None:
            raise ConfigError(f"handler {spec!r}: {module.__name__} defines no {attr!r}")
    else:
        found = [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj)
            and issubclass(obj, BaseHandler)
            and obj.__module__ == module.__name__
        ]
        if len(found) != 1:
            raise ConfigError(
                f"handler {spec!r}: expected exactly one BaseHandler subclass, found {len(found)}; "
                "name it as 'handler.py:ClassName'"
            )
        cls = found[0]
    if not (inspect.isclass(cls) and issubclass(cls, BaseHandler)):
        raise ConfigError(f"handler {spec!r} is not a vxserve.BaseHandler subclass")
    return cls()


_REQUEST_HOOKS = ("preprocess", "shape_key", "postprocess")


def quick(hook: F) -> F:
    """Mark a handler's override as quick CPU work that never blocks (no I/O, no sleep).

    The ASGI front then calls it on its event loop like vxserve's own hooks instead of
    sending the request through a thread (see quick_hooks).
    """
    hook.vxserve_quick = True  # type: ignore[attr-defined]
    return hook


def quick_hooks(handler: BaseHandler | type[BaseHandler]) -> bool:
    """Whether the hooks run per request beside the event loop are all quick.

    preprocess, shape_key and postprocess of the built-in handlers are quick CPU work and
    never wait on I/O, so the ASGI front calls them on its event loop. A user's override
    may do anything (tokenize for 50 ms, fetch a URL) and would stall every connection,
    so a handler that overrides any of them is served from a thread instead, unless the
    override is marked with `quick`.
    """
    cls = handler if isinstance(handler, type) else type(handler)
    for name in _REQUEST_HOOKS:
        hook = getattr(cls, name)
        if hook.__module__ != __name__ and not getattr(hook, "vxserve_quick", False):
            return False
    return True


def group_by_key(handler: BaseHandler, items: Sequence[Any]) -> dict[Hashable, list[int]]:
    """Indices of items per shape key, in first-seen order."""
    groups: dict[Hashable, list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault(handler.shape_key(item), []).append(i)
    return groups


def _split(outputs: Any, sizes: list[int]) -> list[Any]:
    if isinstance(outputs, dict):
        parts = {k: _split(v, sizes) for k, v in outputs.items()}
        return [{k: parts[k][i] for k in parts} for i in range(len(sizes))]
    if isinstance(outputs, (tuple, list)):
        columns = [_split(v, sizes) for v in outputs]
        return [type(outputs)(col[i] for col in columns) for i in range(len(sizes))]
    if hasattr(outputs, "shape"):
        total = sum(sizes)
        if not outputs.shape or outputs.shape[0] != total:
            raise ConfigError(
                f"model output has shape {list(outputs.shape)}; "
                f"expected {total} rows, one per instance"
            )
        parts, start = [], 0
        for n in sizes:
            parts.append(outputs[start : start + n])
            start += n
        return parts
    raise ConfigError(f"model output of type {type(outputs).__name__} cannot be split per instance")


def _to_cpu(out: Any) -> Any:
    if isinstance(out, dict):
        return {k: _to_cpu(v) for k, v in out.items()}
    if isinstance(out, (tuple, list)):
        return type(out)(_to_cpu(v) for v in out)
    return out.detach().cpu() if hasattr(out, "detach") else out


def _to_python(out: Any) -> list[Any]:
    if isinstance(out, dict):
        cols = {k: _to_python(v) for k, v in out.items()}
        n = len(next(iter(cols.values()))) if cols else 0
        return [{k: cols[k][i] for k in cols} for i in range(n)]
    if isinstance(out, (tuple, list)):
        cols = [_to_python(v) for v in out]
        return [[c[i] for c in cols] for i in range(len(cols[0]))] if cols else []
    if hasattr(out, "tolist"):
        if getattr(out, "dtype", None) is not None and "bfloat16" in str(out.dtype):
            out = out.float()
        return out.tolist()
    return list(out)


def _has_bool(value: Any) -> bool:
    """True if a JSON array holds true/false anywhere (C-speed scan of the innermost lists)."""
    if type(value) is bool:
        return True
    if type(value) is not list or not value:
        return False
    if type(value[0]) is list:
        return any(_has_bool(v) for v in value)
    return bool in set(map(type, value))


def _default_cast(tensor: Any) -> Any:
    import torch

    return tensor.to(torch.float32) if tensor.is_floating_point() else tensor.to(torch.int64)


def _nested(shape: list[int], fill: float | int) -> Any:
    if not shape:
        return fill
    return [_nested(shape[1:], fill) for _ in range(shape[0])]


def _num(x: float) -> str:
    return str(int(x)) if math.isfinite(x) and float(x).is_integer() else f"{x:g}"


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
