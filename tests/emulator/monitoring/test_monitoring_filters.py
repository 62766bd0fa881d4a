"""The Monitoring filter subset: what parses, what matches, what is refused."""

from __future__ import annotations

import pytest

from vxdeploy.emulator.monitoring.errors import ApiError
from vxdeploy.emulator.monitoring.filters import equality_value, matches, parse_filter

LABELS = {
    "metric.type": "aiplatform.googleapis.com/prediction/online/error_count",
    "resource.labels.endpoint_id": "123",
    "metric.labels.deployed_model_id": "77",
}


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("", True),
        ('metric.type = "aiplatform.googleapis.com/prediction/online/error_count"', True),
        ('resource.label.endpoint_id = "123" AND metric.label.deployed_model_id = "77"', True),
        ("resource.labels.endpoint_id = 123", True),  # bare words are values too
        ('resource.labels.endpoint_id != "123"', False),
        ('metric.type = starts_with("aiplatform.googleapis.com/prediction/")', True),
        ('metric.type = ends_with("latencies")', False),
        ('metric.labels.deployed_model_id = one_of("1", "77")', True),
        ('metric.labels.deployed_model_id = has_substring("7")', True),
        ('metric.labels.missing = "x"', False),
        ('metric.labels.deployed_model_id = "77" and resource.labels.endpoint_id = "9"', False),
        ("metric.labels.deployed_model_id = 'seven' ", False),
    ],
)
def test_matching(text: str, hit: bool) -> None:
    assert matches(parse_filter(text), LABELS.get) is hit


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('a = "1" OR b = "2"', "only terms joined by AND"),
        ('NOT a = "1"', "NOT is not supported"),
        ('a = "1" AND', "expected word, got 'end of filter'"),
        ("a >", "expected = or !="),
        ('a = starts_with("x", "y")', "takes exactly one string"),
        ('a = "unterminated', "cannot parse"),
    ],
)
def test_refused(text: str, message: str) -> None:
    with pytest.raises(ApiError, match=message) as caught:
        parse_filter(text)
    assert caught.value.status == "INVALID_ARGUMENT"


def test_equality_value_pins_the_metric_type() -> None:
    terms = parse_filter('metric.type = "x/y" AND metric.type != "x/z"')
    assert equality_value(terms, "metric.type") == "x/y"
    assert equality_value(parse_filter('metric.type = starts_with("x")'), "metric.type") is None
