"""The backend interface: named numpy inputs in, named numpy outputs out.

Backends never see JSON or requests; they run one already-batched array through a
compiled graph. Batches larger than the backend's maximum (a TensorRT optimization
profile's max, say) are cut into chunks here, so a single request with many instances
is never an error.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: name, numpy dtype, shape with None for dynamic dims."""

    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...]

    @property
    def instance_shape(self) -> tuple[int | None, ...]:
        """The per-instance shape (the batch dimension removed)."""
        return self.shape[1:]


class Backend(abc.ABC):
    """A compiled graph with a single batched input."""

    name: str = "backend"
    #: largest batch one run accepts; None means any
    max_batch: int | None = None

    @property
    @abc.abstractmethod
    def input(self) -> TensorSpec: ...

    @property
    @abc.abstractmethod
    def outputs(self) -> list[TensorSpec]: ...

    @abc.abstractmethod
    def _run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Run one batch no larger than max_batch; one array per output, batch first."""

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Run `batch` (cast to the input dtype), in chunks of at most max_batch."""
        batch = np.ascontiguousarray(batch, dtype=self.input.dtype)
        limit = self.max_batch
        if limit is None or batch.shape[0] <= limit:
            return self._run(batch)
        parts = [self._run(batch[i:i + limit]) for i in range(0, batch.shape[0], limit)]
        return [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]

    def describe(self) -> dict[str, Any]:
        """What /health and the logs report about the backend."""
        dims = ["batch", *("dynamic" if d is None else d for d in self.input.instance_shape)]
        return {"backend": self.name, "input": self.input.name, "input_shape": dims}

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release device memory; the default holds nothing."""
