"""Engine event streams made readable, and failures mapped to errors that say what to do."""

from __future__ import annotations

import pytest

from vxdeploy.build.builder import (
    BaseImageUnavailableError,
    BuildFailedError,
    _raise_build_error,
)
from vxdeploy.build.progress import EventLog


def collect() -> tuple[EventLog, list[tuple[str, bool]]]:
    lines: list[tuple[str, bool]] = []
    return EventLog(lambda line, step: lines.append((line, step))), lines


def test_build_stream_lines_steps_and_image_id():
    log, lines = collect()
    for event in [{"stream": "Step 1/2 : FROM base\n"}, {"stream": " ---> abc\n"},
                  {"stream": "Step 2/2 : RUN pip"}, {"stream": " install x\n\n"},
                  {"aux": {"ID": "sha256:feed"}}, {"stream": "Successfully built feed\n"}]:
        log.feed(event)
    log.flush()
    assert lines == [("Step 1/2 : FROM base", True), (" ---> abc", False),
                     ("Step 2/2 : RUN pip install x", True), ("Successfully built feed", False)]
    assert log.image_id == "sha256:feed" and log.step == "Step 2/2 : RUN pip install x"


def test_push_stream_keeps_layer_results_and_the_digest():
    log, lines = collect()
    for event in [{"status": "The push refers to repository [r/x]"},
                  {"status": "Preparing", "id": "a1"},
                  {"status": "Pushing", "id": "a1", "progressDetail": {"current": 1}},
                  {"status": "Pushed", "id": "a1"},
                  {"status": "Layer already exists", "id": "b2"},
                  {"status": "t1: digest: sha256:0123 size: 741"},
                  {"aux": {"Tag": "t1", "Digest": "sha256:0123", "Size": 741}}]:
        log.feed(event)
    assert [line for line, _ in lines] == ["a1: Pushed", "b2: Layer already exists",
                                           "t1: digest: sha256:0123 size: 741"]
    assert log.digest == "sha256:0123"


def test_error_event_is_kept_with_its_detail():
    log, _ = collect()
    log.feed({"errorDetail": {"message": "denied: permission"}, "error": "denied: permission"})
    assert log.error == "denied: permission" and "denied" in log.tail_text()


def test_pull_failure_at_from_is_a_base_image_error():
    log, _ = collect()
    log.feed({"stream": "Step 1/5 : FROM ${BASE_IMAGE}\n"})
    log.feed({"error": "pull access denied for nope, repository does not exist"})
    with pytest.raises(BaseImageUnavailableError, match="cannot be pulled") as caught:
        _raise_build_error(log, "r/x:1")
    assert "--base-image" in caught.value.hint


def test_failure_in_a_later_step_names_the_step():
    log, _ = collect()
    log.feed({"stream": "Step 3/5 : RUN make\n"})
    log.feed({"stream": "compiler says no\n"})
    log.feed({"error": "The command '/bin/sh -c make' returned a non-zero code: 2"})
    with pytest.raises(BuildFailedError, match="at Step 3/5 : RUN make") as caught:
        _raise_build_error(log, "r/x:1")
    assert "compiler says no" in caught.value.hint
