"""Every prediction the emulator routed, kept so Cloud Monitoring reads can be answered.

The prediction router records one entry per request; ListTimeSeries derives Vertex's
`prediction/online/*` metrics from them on demand, so no aggregation is precomputed and
any filter/aligner/reducer combination sees the same raw truth.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from vxdeploy.emulator.private_files import open_private_log, private_dir, write_private

DELAY_ENV = "VXDEPLOY_METRICS_DELAY_S"
RETENTION_S = 7 * 24 * 3600  # older records are dropped when the store is loaded
MAX_RECORDS = 1_000_000  # beyond this the oldest are dropped: bounded memory and load time
FILE_NAME = "prediction_records.jsonl"


@dataclass(frozen=True)
class PredictionRecord:
    timestamp: float  # seconds since the epoch, when the response was sent
    project: str
    location: str
    endpoint_id: str
    deployed_model_id: str
    latency_ms: float
    response_code: int
    instance_count: int = 1


def _line(record: PredictionRecord) -> str:
    """One JSON array per line (field order of PredictionRecord): compact and quick to load."""
    return json.dumps(list(vars(record).values())) + "\n"  # astuple() deep-copies: 4x slower


def _delay_from_env() -> float:
    raw = os.environ.get(DELAY_ENV, "").strip()
    if not raw:
        return 0.0
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{DELAY_ENV}={raw!r}: expected seconds >= 0, e.g. 180") from exc
    if value < 0 or not math.isfinite(value):
        raise ValueError(f"{DELAY_ENV}={raw!r}: expected seconds >= 0, e.g. 180")
    return value


class MetricsStore:
    """Thread-safe, append-only log of routed predictions under `state_dir/monitoring/`.

    `ingestion_delay_s` mimics Vertex delivering metrics 2-6 minutes late: a record is
    invisible to reads until `timestamp + delay` has passed, so rollout gates can be
    tested against "no data yet". Default 0, or `$VXDEPLOY_METRICS_DELAY_S`.
    """

    def __init__(self, state_dir: Path, *, ingestion_delay_s: float | None = None):
        self.path = Path(state_dir) / "monitoring" / FILE_NAME
        private_dir(self.path.parent)
        self._lock = threading.Lock()
        self._records: list[PredictionRecord] = []
        self._delay = 0.0
        self.ingestion_delay_s = (
            _delay_from_env() if ingestion_delay_s is None else ingestion_delay_s
        )
        self._load()

    @property
    def ingestion_delay_s(self) -> float:
        return self._delay

    @ingestion_delay_s.setter
    def ingestion_delay_s(self, value: float) -> None:
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"ingestion_delay_s must be a finite number >= 0, got {value}")
        self._delay = float(value)

    def _load(self) -> None:
        if not self.path.exists():
            return
        cutoff = time.time() - RETENTION_S
        kept: list[PredictionRecord] = []
        dropped = 0
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = PredictionRecord(*json.loads(line))
                except (ValueError, TypeError):
                    dropped += 1  # a torn last line after a crash: skip it
                    continue
                if record.timestamp >= cutoff:
                    kept.append(record)
                else:
                    dropped += 1
        if len(kept) > MAX_RECORDS:
            dropped += len(kept) - MAX_RECORDS
            kept = kept[-MAX_RECORDS:]
        self._records = kept
        if dropped:
            self._rewrite()

    def _rewrite(self) -> None:
        write_private(self.path, "".join(_line(r) for r in self._records))

    def record(
        self,
        *,
        project: str,
        location: str,
        endpoint_id: str,
        deployed_model_id: str,
        latency_ms: float,
        response_code: int,
        timestamp: float | None = None,
        instance_count: int = 1,
    ) -> None:
        """Remember one routed prediction request (any outcome, 2xx or not)."""
        if latency_ms < 0 or not math.isfinite(latency_ms):
            raise ValueError(f"latency_ms must be a finite number >= 0, got {latency_ms}")
        if not 100 <= int(response_code) <= 599:
            raise ValueError(f"response_code must be an HTTP status 100-599, got {response_code}")
        if instance_count < 0:
            raise ValueError(f"instance_count must be >= 0, got {instance_count}")
        entry = PredictionRecord(
            timestamp=time.time() if timestamp is None else float(timestamp),
            project=project,
            location=location,
            endpoint_id=str(endpoint_id),
            deployed_model_id=str(deployed_model_id),
            latency_ms=float(latency_ms),
            response_code=int(response_code),
            instance_count=int(instance_count),
        )
        line = _line(entry)
        with self._lock:
            self._records.append(entry)
            # Opened per write: no handle for the emulator to close, and the line is in the
            # OS's hands at once, so a killed emulator loses nothing recorded.
            with os.fdopen(open_private_log(self.path), "a", encoding="utf-8") as handle:
                handle.write(line)
            if len(self._records) > MAX_RECORDS * 1.1:
                del self._records[: len(self._records) - MAX_RECORDS]
                self._rewrite()

    def visible(self, now: float | None = None) -> list[PredictionRecord]:
        """The records a reader can see at `now` (those older than the ingestion delay)."""
        horizon = (time.time() if now is None else now) - self._delay
        with self._lock:
            return [r for r in self._records if r.timestamp <= horizon]

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def reset(self) -> None:
        """Forget every record (e.g. `vxdeploy local reset`)."""
        with self._lock:
            self._records = []
            self.path.unlink(missing_ok=True)
