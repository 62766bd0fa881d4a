"""Reading just enough of a Dockerfile: instructions, the final user, BASE_IMAGE's default."""

from __future__ import annotations

import pytest

from vxdeploy.build.dockerfile import (
    add_user_layer,
    default_base_image,
    final_stage_user,
    instructions,
    takes_base_image,
)

FLASK_LIKE = """\
# syntax=docker/dockerfile:1
ARG BASE_IMAGE=pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime
FROM ${BASE_IMAGE}
# a comment
RUN useradd app \\
    && mkdir /app
USER app
CMD ["python3"]
"""


def test_instructions_join_continuations_and_drop_comments():
    found = instructions(FLASK_LIKE)
    assert [i.keyword for i in found] == ["ARG", "FROM", "RUN", "USER", "CMD"]
    assert found[2].value == "useradd app  && mkdir /app"


@pytest.mark.parametrize(("text", "user"), [
    (FLASK_LIKE, "app"),
    ("FROM a\nUSER one\nFROM b\n", None),  # a new stage starts with no USER of its own
    ("FROM a\nUSER one\nFROM b\nuser two:grp\n", "two:grp"),
    ("FROM a\nRUN true\n", None),
])
def test_final_stage_user(text, user):
    assert final_stage_user(text) == user


@pytest.mark.parametrize(("text", "default", "declared"), [
    (FLASK_LIKE, "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime", True),
    ('ARG BASE_IMAGE="debian:12"\nFROM $BASE_IMAGE\n', "debian:12", True),
    ("ARG BASE_IMAGE\nFROM $BASE_IMAGE\n", None, True),
    ("FROM debian:12\nARG BASE_IMAGE=x\n", None, False),  # after FROM: not a global ARG
    ("FROM debian:12\n", None, False),
])
def test_base_image_argument(text, default, declared):
    assert default_base_image(text) == default
    assert takes_base_image(text) is declared


def test_user_layer_runs_as_root_then_restores_the_user():
    text = add_user_layer(FLASK_LIKE, ["COPY x /x", "ENV A=1"])
    tail = text.splitlines()[-4:]
    assert tail == ["USER root", "COPY x /x", "ENV A=1", "USER app"]
    assert text.startswith(FLASK_LIKE.rstrip("\n"))


def test_user_layer_without_user_adds_no_user_lines():
    text = add_user_layer("FROM a\n", ["COPY x /x"])
    assert "USER" not in text
    assert text.rstrip().endswith("COPY x /x")
