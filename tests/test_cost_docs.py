"""`cost --help` points at docs/cost.md: it must exist and name the price table in use."""

from __future__ import annotations

from pathlib import Path

from vxdeploy import catalog

DOC = Path(__file__).resolve().parents[1] / "docs" / "cost.md"


def test_cost_doc_names_the_price_tables_date_region_and_exclusions() -> None:
    text = DOC.read_text()
    assert catalog.PRICES_CHECKED_ON in text
    assert catalog.PRICES_REGION in text
    for family in catalog.DEFAULT_PRICES.family_rates:
        assert f"`{family}`" in text
    for excluded in ("Networking", "Logging", "Storage"):
        assert excluded in text

