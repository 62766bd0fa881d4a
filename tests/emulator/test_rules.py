"""Vertex's request rules as pure functions: tables of cases."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from vxdeploy.emulator import rules
from vxdeploy.emulator.errors import ApiError, parse_status, status_for_http
from vxdeploy.emulator.routes import compile_template


@pytest.mark.parametrize(("split", "known", "zero", "message"), [
    ({}, [], False, None),
    ({"1": 100}, ["1"], False, None),
    ({"1": 60, "2": 40}, ["1", "2"], False, None),
    ({"0": 30, "1": 70}, ["1"], True, None),
    ({"1": 60, "2": 30}, ["1", "2"], False, "must be 100, got 90"),
    ({"3": 100}, ["1"], False, 'key "3" is not a DeployedModel id'),
    ({"0": 100}, ["1"], False, '"0" is only allowed in DeployModel'),
    ({"1": 120, "2": -20}, ["1", "2"], False, "each value must be 0-100"),
])
def test_check_split(split, known, zero, message):
    if message is None:
        rules.check_split(split, known, "traffic_split", allow_zero_key=zero)
        return
    with pytest.raises(ApiError, match=message) as caught:
        rules.check_split(split, known, "traffic_split", allow_zero_key=zero)
    assert caught.value.status == "INVALID_ARGUMENT" and caught.value.http_status == 400


def _resource(name: str, **labels: str) -> SimpleNamespace:
    return SimpleNamespace(display_name=name, labels=labels)


@pytest.mark.parametrize(("text", "matches"), [
    ("", ["a", "b", "c"]),
    ('display_name="b"', ["b"]),
    ("display_name=b", ["b"]),
    ('labels.team="x"', ["a", "c"]),
    ('labels.team="x" AND display_name="c"', ["c"]),
    ("labels.owner:*", ["b"]),
    ('labels.team!="x"', ["b"]),
])
def test_parse_filter(text, matches):
    items = [_resource("a", team="x"), _resource("b", owner="me"), _resource("c", team="x")]
    predicate = rules.parse_filter(text)
    assert [r.display_name for r in items if predicate(r)] == matches


@pytest.mark.parametrize("text", ["create_time>1", 'labels.a="x" OR labels.b="y"', "((x))"])
def test_parse_filter_rejects_what_it_cannot_evaluate(text):
    with pytest.raises(ApiError, match="supported forms"):
        rules.parse_filter(text)


def test_paginate_walks_every_item_once_and_ends_with_an_empty_token():
    items = list(range(7))
    seen, token, pages = [], "", 0
    while True:
        page, token = rules.paginate(items, 3, token)
        seen += page
        pages += 1
        if not token:
            break
    assert seen == items and pages == 3
    assert rules.paginate(items, 0, "")[0] == items  # default page size
    with pytest.raises(ApiError, match="Invalid page_token"):
        rules.paginate(items, 3, "garbage!")
    with pytest.raises(ApiError, match="page_size must be >= 0"):
        rules.paginate(items, -1, "")


@pytest.mark.parametrize(("template", "path", "expected"), [
    ("/v1/{name=projects/*/locations/*/models/*}", "/v1/projects/p/locations/l/models/m%402",
     ("projects/p/locations/l/models/m%402",)),
    ("/v1/{endpoint=projects/*/locations/*/endpoints/*}:predict",
     "/v1/projects/p/locations/l/endpoints/9:predict", ("projects/p/locations/l/endpoints/9",)),
    ("/v1/{endpoint.name=projects/*/locations/*/endpoints/*}",
     "/v1/projects/p/locations/l/endpoints/9:predict", None),
    ("/v1/{name=projects/*/locations/*}/models", "/v1/projects/p/locations/l/x/models", None),
])
def test_compile_template(template, path, expected):
    pattern, _variables = compile_template(template)
    found = pattern.match(path)
    assert (found.groups() if found else None) == expected


@pytest.mark.parametrize(("value", "status"), [
    ("unavailable", "UNAVAILABLE"), (14, "UNAVAILABLE"), (503, "UNAVAILABLE"),
    ("409", "ABORTED"), (400, "INVALID_ARGUMENT"), (418, "FAILED_PRECONDITION"),
    (502, "INTERNAL"),
])
def test_status_parsing(value, status):
    assert parse_status(value) == status


def test_error_bodies_have_vertex_shape():
    error = ApiError("ABORTED", "stale")
    assert error.to_json() == {"error": {"code": 409, "message": "stale", "status": "ABORTED"}}
    assert error.to_rpc_status() == {"code": 10, "message": "stale"}
    assert status_for_http(404) == "NOT_FOUND"
