"""The emulator's tunables, read from the environment in one place.

`EmulatorServer` builds one `EmulatorConfig` when it is made (from `VXDEPLOY_EMULATOR_*`,
then the keyword arguments a test passes) and hands each part the values it needs; no
other module of the emulator reads these variables. docs/emulator.md lists them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

INLINE_WAIT_ENV = "VXDEPLOY_EMULATOR_INLINE_WAIT_S"
OPERATION_PENDING_ENV = "VXDEPLOY_EMULATOR_OPERATION_PENDING_S"
MAX_REPLICAS_ENV = "VXDEPLOY_EMULATOR_MAX_REPLICAS"
READY_TIMEOUT_ENV = "VXDEPLOY_EMULATOR_READY_TIMEOUT_S"


@dataclass(frozen=True)
class EmulatorConfig:
    """How the emulator behaves where Vertex has no equivalent setting."""

    # How long a long-running call waits for its work before answering pending.
    inline_wait_s: float = 2.0
    # "Pending mode": every operation stays pending this long and must be polled.
    operation_pending_s: float = 0.0
    # Local machines are small: at most this many replicas of one deployment really run.
    max_replicas: int = 1
    # How long a deploy waits for the model server's health route.
    ready_timeout_s: float = 180.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EmulatorConfig:
        """The defaults, overridden by each variable that is set and not empty."""
        env = os.environ if environ is None else environ
        default = cls()
        return cls(
            inline_wait_s=_number(env, INLINE_WAIT_ENV, default.inline_wait_s),
            operation_pending_s=_number(env, OPERATION_PENDING_ENV,
                                        default.operation_pending_s),
            max_replicas=int(_number(env, MAX_REPLICAS_ENV, default.max_replicas,
                                     integer=True)),
            ready_timeout_s=_number(env, READY_TIMEOUT_ENV, default.ready_timeout_s))


def _number(env: Mapping[str, str], name: str, default: float, *, integer: bool = False,
            minimum: float = 0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        kind = "a whole number" if integer else "a number of seconds"
        raise ValueError(f"{name}={raw!r} is not valid; allowed: {kind} >= {minimum:g}.")
    return float(value)
