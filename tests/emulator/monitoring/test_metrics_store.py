"""MetricsStore: persistence, crash tolerance, validation, the ingestion delay."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from vxdeploy.emulator.monitoring import MetricsStore


def _record(store: MetricsStore, at: float, code: int = 200) -> None:
    store.record(
        project="p",
        location="l",
        endpoint_id="1",
        deployed_model_id="2",
        latency_ms=5.0,
        response_code=code,
        timestamp=at,
    )


def test_reload_keeps_records_and_skips_a_torn_last_line(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path)
    now = time.time()
    for i in range(3):
        _record(store, now - i)
    with open(store.path, "a") as handle:
        handle.write('[1.0, "p", "l"')  # the emulator died mid-write
    again = MetricsStore(tmp_path)
    assert len(again) == 3
    assert sorted(r.timestamp for r in again.visible()) == sorted(now - i for i in range(3))
    assert '[1.0, "p", "l"' not in again.path.read_text()  # rewritten clean


def test_old_records_expire_on_load(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path)
    _record(store, time.time() - 8 * 24 * 3600)
    _record(store, time.time())
    assert len(MetricsStore(tmp_path)) == 1


def test_concurrent_records_are_all_kept(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path)
    now = time.time()

    def burst() -> None:
        for _ in range(200):
            _record(store, now)

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(store) == 800
    assert len(MetricsStore(tmp_path)) == 800


def test_bad_values_name_the_field(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path)
    with pytest.raises(ValueError, match="latency_ms must be a finite number >= 0"):
        store.record(
            project="p",
            location="l",
            endpoint_id="1",
            deployed_model_id="2",
            latency_ms=-1,
            response_code=200,
        )
    with pytest.raises(ValueError, match="response_code must be an HTTP status"):
        store.record(
            project="p",
            location="l",
            endpoint_id="1",
            deployed_model_id="2",
            latency_ms=1,
            response_code=42,
        )
    with pytest.raises(ValueError, match="ingestion_delay_s must be"):
        MetricsStore(tmp_path, ingestion_delay_s=-5)


def test_ingestion_delay_and_reset(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path, ingestion_delay_s=120)
    now = time.time()
    _record(store, now - 60)
    _record(store, now - 180)
    assert len(store.visible(now)) == 1
    assert len(store.visible(now + 61)) == 2  # the late one arrives
    store.reset()
    assert store.visible(now + 600) == [] and not store.path.exists()
    _record(store, now - 600)
    assert len(MetricsStore(tmp_path)) == 1
