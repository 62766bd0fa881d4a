"""`python -m vxserve`: the PyTorch server (the `flask` container's entry point).

Vertex's routes (AIP_HEALTH_ROUTE, AIP_PREDICT_ROUTE, AIP_HTTP_PORT) and /metrics over a
PredictionService, served by uvicorn; configuration from AIP_* / VXSERVE_* (a bad value
exits 2 naming it).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from .config import ServeConfig


@dataclass(frozen=True)
class Settings:
    serve: ServeConfig

    @classmethod
    def from_env(cls) -> Settings:
        return cls(ServeConfig.from_env())


def main() -> int:
    from .asgi import run
    from .service import PredictionService
    from .web import create_app

    return run("vxserve", Settings.from_env, lambda s: create_app(PredictionService(s.serve)))


if __name__ == "__main__":
    sys.exit(main())
